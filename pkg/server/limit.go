package server

import (
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/go-logr/logr"

	"github.com/sealgate/sealgate/pkg/metrics"
)

// limiter bounds the requests being read or evaluated. Every request takes a general slot; one whose
// body is over LargeBodyBytes, or of unknown length, also takes a large slot, since bodies are held in
// memory whole. A request that finds no free slot is answered 429 at once and never queued: the API
// server would time out waiting, and a queue is memory too.
type limiter struct {
	general, large chan struct{}
	rec            metrics.ServerRecorder
}

func newLimiter(general, large int, rec metrics.ServerRecorder) *limiter {
	return &limiter{general: make(chan struct{}, general), large: make(chan struct{}, large), rec: rec}
}

func (l *limiter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tryAcquire(l.general) {
			l.reject(w, r, "in_flight", fmt.Sprintf("sealgate is already answering %d admission requests; this one is refused rather than queued, retry shortly", cap(l.general)))
			return
		}
		defer release(l.general)
		if r.ContentLength < 0 || r.ContentLength > LargeBodyBytes {
			if !tryAcquire(l.large) {
				l.reject(w, r, "large_in_flight", fmt.Sprintf("sealgate is already reading %d admission requests over %d bytes; this one is refused rather than queued, retry shortly", cap(l.large), LargeBodyBytes))
				return
			}
			defer release(l.large)
		}
		h.ServeHTTP(w, r)
	})
}

// maxDiscardBytes is how much of an unread body net/http reads and discards after a handler returns,
// to keep the connection alive; past it, it closes the connection.
const maxDiscardBytes = 256 << 10

func (l *limiter) reject(w http.ResponseWriter, r *http.Request, reason, msg string) {
	l.rec.Rejected(reason)
	if r.ContentLength < 0 || r.ContentLength > maxDiscardBytes {
		// The unread body is not waited for: the connection closes after this answer. net/http would
		// otherwise read a chunked body to its end, or until the read deadline, before answering.
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Retry-After", "1")
	http.Error(w, msg, http.StatusTooManyRequests)
}

func tryAcquire(c chan struct{}) bool {
	select {
	case c <- struct{}{}:
		return true
	default:
		return false
	}
}

func release(c chan struct{}) { <-c }

// recoverPanics answers 500 when a handler panics, counts it, and logs it with a bounded stack,
// instead of net/http's reset connection. Handlers that know the request (the admission webhooks)
// recover first and answer for the request's uid; this is the net for the rest.
func recoverPanics(h http.Handler, log logr.Logger, rec metrics.ServerRecorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler { //nolint:errorlint // net/http compares it the same way
				panic(p)
			}
			rec.Panic()
			stack := debug.Stack()
			if len(stack) > 8<<10 {
				stack = stack[:8<<10]
			}
			msg := fmt.Sprint(p)
			if len(msg) > 1024 {
				msg = msg[:1024] + "... (cut)"
			}
			log.Error(fmt.Errorf("panic: %s", msg), "recovered a panic while serving a request", "path", r.URL.Path, "stack", string(stack))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}()
		h.ServeHTTP(w, r)
	})
}
