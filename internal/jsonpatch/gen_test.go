package jsonpatch_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// keys reach the corners of RFC 6901: the member "", members that look like indices, and escapes.
var keys = []string{"a", "b", "id", "name", "", "0", "00", "-1", "-", "a/b", "~1", "é", "<&>"}

// genValue returns a random JSON value nested at most depth deep.
func genValue(r *rand.Rand, depth int) any {
	n := 6
	if depth > 0 {
		n = 8
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return json.Number(fmt.Sprint(r.IntN(1000)))
	case 3:
		return []json.Number{"1.5", "-0.25e3", "9007199254740993", "1.0"}[r.IntN(4)]
	case 4, 5:
		return []string{"", "x", "hello", "a/b~c", "<b>", "ünï"}[r.IntN(6)]
	case 6:
		s := make([]any, r.IntN(5))
		for i := range s {
			s[i] = genValue(r, depth-1)
		}
		return s
	}
	m := map[string]any{}
	for range r.IntN(5) {
		m[keys[r.IntN(len(keys))]] = genValue(r, depth-1)
	}
	return m
}

// mutate returns a changed copy of v: values replaced, members added and removed, arrays grown and
// shrunk, and now and then a type changed.
func mutate(r *rand.Rand, v any) any {
	if r.IntN(8) == 0 {
		return genValue(r, 2)
	}
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, xv := range x {
			switch r.IntN(4) {
			case 0: // removed
			case 1:
				m[k] = mutate(r, xv)
			default:
				m[k] = xv
			}
		}
		if r.IntN(2) == 0 {
			m[keys[r.IntN(len(keys))]] = genValue(r, 2)
		}
		return m
	case []any:
		var s []any
		for _, xv := range x {
			switch r.IntN(5) {
			case 0:
			case 1:
				s = append(s, mutate(r, xv))
			case 2:
				s = append(s, genValue(r, 1), xv)
			default:
				s = append(s, xv)
			}
		}
		return s
	}
	return genValue(r, 1)
}

// encodeJSON encodes v compactly, as an API would.
func encodeJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		tb.Fatal(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

// catalog returns a 100 KB API response (350 items), and the same response after a poll's worth
// of change: three prices, one stock count, a tag added, a field removed and one item appended.
func catalog(tb testing.TB) (before, after []byte) {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	items := make([]any, 350)
	for i := range items {
		items[i] = map[string]any{
			"id":          json.Number(fmt.Sprint(9007199254740000 + i)),
			"sku":         fmt.Sprintf("SKU-%05d", i),
			"name":        fmt.Sprintf("Product %d, a thing of some use", i),
			"price":       json.Number(fmt.Sprintf("%d.%02d", r.IntN(500), r.IntN(100))),
			"currency":    "EUR",
			"tags":        []any{"red", "sale", fmt.Sprint("t", i%7)},
			"stock":       map[string]any{"warehouse": json.Number(fmt.Sprint(r.IntN(100))), "store": json.Number(fmt.Sprint(r.IntN(10)))},
			"updated_at":  "2025-11-23T15:30:00Z",
			"description": "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
		}
	}
	doc := map[string]any{"items": items, "meta": map[string]any{"page": json.Number("1"), "total": json.Number("350")}}
	before = encodeJSON(tb, doc)

	item := func(i int) map[string]any { return items[i].(map[string]any) }
	item(3)["price"] = json.Number("1.99")
	item(150)["price"] = json.Number("2.99")
	item(349)["price"] = json.Number("3.99")
	item(42)["stock"].(map[string]any)["store"] = json.Number("0")
	item(7)["tags"] = append(item(7)["tags"].([]any), "new")
	delete(item(200), "description")
	doc["items"] = append(items, map[string]any{"id": json.Number("9007199254740350"), "name": "Newcomer"})
	doc["meta"].(map[string]any)["total"] = json.Number("351")
	return before, encodeJSON(tb, doc)
}
