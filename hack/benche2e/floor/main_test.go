package main

import (
	"encoding/json"
	"os"
	"testing"
)

// The floor's answer to each captured body carries the request's uid, as the API server requires,
// and allows.
func TestAnswerEchoesTheRequestUID(t *testing.T) {
	for _, f := range []string{"../testdata/review-allowed.json", "../testdata/review-denied.json"} {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var in struct {
			Request struct {
				UID string `json:"uid"`
			} `json:"request"`
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Request.UID == "" {
			t.Fatalf("%s: request.uid %q, %v", f, in.Request.UID, err)
		}
		out, ok := answer(body)
		var got struct {
			Response struct {
				UID     string `json:"uid"`
				Allowed bool   `json:"allowed"`
			} `json:"response"`
		}
		if !ok || json.Unmarshal(out, &got) != nil || got.Response.UID != in.Request.UID || !got.Response.Allowed {
			t.Errorf("%s: answer %s, %v; want uid %s, allowed", f, out, ok, in.Request.UID)
		}
	}
	if _, ok := answer([]byte(`{"request":{}}`)); ok {
		t.Error("a body without a uid was answered")
	}
}

// -validate accepts the captured bodies and refuses what is not exactly one JSON value.
func TestValid(t *testing.T) {
	for _, f := range []string{"../testdata/review-allowed.json", "../testdata/review-denied.json"} {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := valid(body); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// Duplicate names and invalid UTF-8 are read as the API server reads them, not refused.
	for _, ok := range []string{`{"a":1,"a":2}`, "{\"a\":\"\xff\"}", ` {"uid":"x"} `} {
		if err := valid([]byte(ok)); err != nil {
			t.Errorf("valid(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{``, `{"a":1`, `{"a":1}{}`, `{"a":1} x`, `{"a":01}`, `{"a":"\x01"}`, `[1,]`} {
		if err := valid([]byte(bad)); err == nil {
			t.Errorf("valid(%q) = nil, want an error", bad)
		}
	}
}
