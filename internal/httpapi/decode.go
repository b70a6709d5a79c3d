package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/apistream/apistream"
)

// specFields are the JSON names JobSpec accepts; any other is refused, naming it.
var specFields = jsonFields(reflect.TypeFor[apistream.JobSpec]())

func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// readBody reads a request body of at most MaxRequestBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, apistream.Invalidf("body", "request body is larger than %d bytes (1 MiB)", MaxRequestBody)
	} else if err != nil {
		return nil, apistream.Invalidf("body", "cannot read request body: %v", err)
	}
	return b, nil
}

// decodeSpec applies the JSON object in the request body onto spec, one field at a time so that an
// error names the field it is about. Fields absent from the body keep their value in spec, which
// gives POST its defaults and PATCH its merge; headers and secret_headers, when present, replace.
func decodeSpec(w http.ResponseWriter, r *http.Request, spec *apistream.JobSpec) error {
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	return mergeSpec(b, spec)
}

// mergeSpec is decodeSpec on a body already read.
func mergeSpec(b []byte, spec *apistream.JobSpec) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return apistream.Invalidf("body", "request body must be a JSON object: %s", jsonErrText(err))
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !specFields[k] {
			return apistream.Invalidf(k, "unknown field %q", k)
		}
		switch k {
		case "headers":
			spec.Headers = nil
		case "secret_headers":
			spec.SecretHeaders = nil
		}
		one, _ := json.Marshal(map[string]json.RawMessage{k: fields[k]})
		if err := json.Unmarshal(one, spec); err != nil {
			return apistream.Invalidf(k, "%s: %s", k, jsonErrText(err))
		}
	}
	if spec.Headers == nil {
		spec.Headers = map[string]string{}
	}
	return nil
}

// jsonErrText turns encoding/json's errors into a message for API clients.
func jsonErrText(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case err == nil:
		return "got null"
	case errors.As(err, &te):
		return "expected " + jsonKind(te.Type) + ", got " + te.Value
	case errors.As(err, &se):
		return "invalid JSON at byte " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice:
		return "an array"
	}
	return t.String()
}

// queryInt reads an integer query parameter within [lo, hi], def when absent.
func queryInt(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, apistream.Invalidf(name, "%s must be a whole number from %d to %d", name, lo, hi)
	}
	return v, nil
}
