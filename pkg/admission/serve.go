package admission

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/sealgate/sealgate/pkg/metrics"
)

// serve is the HTTP side shared by sealgate's webhooks: read, decide, write.
func serve(w http.ResponseWriter, r *http.Request, log logr.Logger, rec metrics.Recorder, now func() time.Time,
	decide func(context.Context, []byte) (*admissionv1.AdmissionResponse, string, error)) {
	start := now()
	body, err := readBody(r)
	var (
		resp     *admissionv1.AdmissionResponse
		decision string
	)
	if err == nil {
		resp, decision, err = decide(r.Context(), body)
	}
	if err != nil {
		log.Info("rejected malformed admission request", "error", err.Error())
		rec.Decision("error", now().Sub(start))
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec.Decision(decision, now().Sub(start))
	out, err := json.Marshal(review(resp))
	if err != nil {
		http.Error(w, "encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}
