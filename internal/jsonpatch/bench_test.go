package jsonpatch_test

import (
	"testing"

	"github.com/apistream/apistream/internal/jsonpatch"
)

// BenchmarkDiffer_Next measures one poll of a ~100 KB document with a few changes: decode the new
// version, compare it with the previous one (kept decoded) and encode the patch. MB/s counts the
// document.
func BenchmarkDiffer_Next(b *testing.B) {
	before, after := catalog(b)
	docs := [2][]byte{before, after}
	d := jsonpatch.NewDiffer()
	if _, err := d.Next(before); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(after)))
	b.ReportAllocs()
	var patchBytes int
	for i := 0; b.Loop(); i++ {
		c, err := d.Next(docs[(i+1)%2]) // before → after, after → before, ...
		if err != nil {
			b.Fatal(err)
		}
		patchBytes = len(c.Patch)
	}
	b.ReportMetric(float64(patchBytes), "patch-bytes")
}

// BenchmarkDiffer_NextUnchanged measures the commonest poll: the same body again.
func BenchmarkDiffer_NextUnchanged(b *testing.B) {
	before, _ := catalog(b)
	d := jsonpatch.NewDiffer()
	if _, err := d.Next(before); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(before)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Next(before); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDiff measures the stateless Diff of the same pair, which decodes both documents.
func BenchmarkDiff(b *testing.B) {
	before, after := catalog(b)
	b.SetBytes(int64(len(after)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jsonpatch.Diff(before, after); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApply measures applying the pair's patch to the ~100 KB document, as a client
// reconstructing the stream does; it runs in evanphx/json-patch.
func BenchmarkApply(b *testing.B) {
	benchmarkApply(b, jsonpatch.Apply)
}

// BenchmarkApply_strict measures the same with the strict applier Apply falls back on.
func BenchmarkApply_strict(b *testing.B) {
	benchmarkApply(b, jsonpatch.ApplyTree)
}

func benchmarkApply(b *testing.B, apply func(doc, patch []byte) ([]byte, error)) {
	before, after := catalog(b)
	patch, err := jsonpatch.Diff(before, after)
	if err != nil {
		b.Fatal(err)
	}
	if got, err := apply(before, patch); err != nil || !jsonEqual(b, got, after) {
		b.Fatalf("apply: %v", err)
	}
	b.SetBytes(int64(len(before)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := apply(before, patch); err != nil {
			b.Fatal(err)
		}
	}
}
