package httpapi

import "github.com/apistream/apistream"

// The wire shapes of the REST API that are not domain types. The server writes them and the Client
// reads them, so both sides share these definitions.

// HealthStatus is the body of GET /healthz.
type HealthStatus struct {
	Status string `json:"status"`
}

// VersionInfo is the body of GET /version: the server's build.
type VersionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

// JobList is one page of GET /v1/jobs. NextAfter is the cursor for the next page; zero (omitted)
// when there is none.
type JobList struct {
	Jobs      []*apistream.Job `json:"jobs"`
	NextAfter int64            `json:"next_after,omitempty"`
}

// RunList is one page of GET /v1/jobs/{ref}/runs, newest first. NextBefore is the cursor for the
// next (older) page; zero (omitted) when there is none.
type RunList struct {
	Runs       []*apistream.Run `json:"runs"`
	NextBefore int64            `json:"next_before,omitempty"`
}

// TransitionList is the body of GET /v1/jobs/{ref}/transitions, newest first.
type TransitionList struct {
	Transitions []*apistream.Transition `json:"transitions"`
}

// EventList is one page of GET /v1/events, oldest first. NextAfter is the after of the next read:
// the last event's id on a full page, else the newest id the log held (there are no further events
// of the filter up to it); a client polls with it to follow the log.
type EventList struct {
	Events    []*apistream.JobEvent `json:"events"`
	NextAfter int64                 `json:"next_after"`
}

// ErrorResponse is the body of every non-2xx response.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is an apistream.Error on the wire.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// NewErrorResponse returns the wire form of err. Errors that are not an *apistream.Error become
// "internal error": their detail is for the server's log.
func NewErrorResponse(err error) ErrorResponse {
	return ErrorResponse{Error: ErrorBody{
		Code:    apistream.ErrorCode(err),
		Message: apistream.ErrorMessage(err),
		Field:   apistream.ErrorField(err),
	}}
}

// AppError returns the body as an *apistream.Error.
func (b ErrorBody) AppError() *apistream.Error {
	return &apistream.Error{Code: b.Code, Message: b.Message, Field: b.Field}
}
