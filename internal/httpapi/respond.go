package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/apistream/apistream"
)

// statusOf maps each error code to its HTTP status: the one place that does.
var statusOf = map[string]int{
	apistream.EINVALID:      http.StatusBadRequest,
	apistream.ENOTFOUND:     http.StatusNotFound,
	apistream.ECONFLICT:     http.StatusConflict,
	apistream.EUNAUTHORIZED: http.StatusUnauthorized,
	apistream.EFORBIDDEN:    http.StatusForbidden,
	apistream.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	apistream.EUNAVAILABLE:  http.StatusServiceUnavailable,
	apistream.ELEASE:        http.StatusConflict,
	apistream.EINTERNAL:     http.StatusInternalServerError,
}

// ErrorStatus returns the HTTP status for err.
func ErrorStatus(err error) int {
	if s, ok := statusOf[apistream.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// writeError writes err as the JSON error body; internal errors are logged in full, shown vaguely.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := apistream.ErrorCode(err)
	if code == apistream.EINTERNAL {
		s.cfg.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == apistream.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="apistream"`)
	}
	writeJSON(w, ErrorStatus(err), NewErrorResponse(err))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
