package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/metrics"
)

// barrier holds each signature lookup (a manifest or referrers request) until another one is in
// flight beside it, or until wait has passed, and records the most that were in flight at once.
type barrier struct {
	wait time.Duration
	on   bool // holding; off while the test pushes its image
	mu   sync.Mutex
	cond *sync.Cond
	now  int
	most int
}

func (b *barrier) wrap(next http.Handler) http.Handler {
	b.cond = sync.NewCond(&b.mu)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		if !b.on || !strings.Contains(r.URL.Path, "/manifests/") && !strings.Contains(r.URL.Path, "/referrers/") {
			b.mu.Unlock()
			next.ServeHTTP(w, r)
			return
		}
		b.now++
		b.most = max(b.most, b.now)
		b.cond.Broadcast()
		deadline := time.AfterFunc(b.wait, func() { b.mu.Lock(); b.cond.Broadcast(); b.mu.Unlock() })
		start := time.Now()
		for b.most < 2 && time.Since(start) < b.wait {
			b.cond.Wait()
		}
		deadline.Stop()
		b.mu.Unlock()
		next.ServeHTTP(w, r)
		b.mu.Lock()
		b.now--
		b.mu.Unlock()
	})
}

// A cold verification reads the classic signature tag and the OCI referrers at once, not one after
// the other: against a registry a few milliseconds away, that is two or three round trips saved.
func TestFetchReadsBothFormatsAtOnce(t *testing.T) {
	b := &barrier{wait: time.Second} // under the verifier's registry timeout
	inner := ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewTLSServer(b.wrap(inner))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	img, _ := random.Image(64, 1)
	ref, _ := name.NewTag(host + "/app:1")
	if err := remote.Write(ref, img, remote.WithTransport(srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.on = true
	b.mu.Unlock()
	d, _ := img.Digest()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key := v1alpha1.Attestor{Name: "release", PublicKey: pemKey(t, &k.PublicKey)}
	v := New(Options{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, Metrics: metrics.Nop{}})

	p := compile(t, host, v1alpha1.ModeEnforce, host+"/**", key)
	fs := v.Verify(t.Context(), p, target(host+"/app@"+d.String()))
	if len(fs) != 1 || !strings.Contains(fs[0].Message, "has no cosign signature") {
		t.Fatalf("findings = %+v, want the unsigned image denied", fs)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.most < 2 {
		t.Errorf("at most %d signature lookup in flight at once; want the signature tag and the referrers read together", b.most)
	}
}

// merge keeps every field of what the other format read: a field added to signatures and left out
// of merge would be lost for one of the two formats.
func TestMergeKeepsEveryField(t *testing.T) {
	var o signatures
	ov := reflect.ValueOf(&o).Elem()
	for i := range ov.NumField() {
		f := ov.Field(i)
		f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem() // unexported: set through its address
		switch f.Kind() {
		case reflect.Int:
			f.SetInt(1)
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		default:
			t.Fatalf("signatures.%s: a %s; teach this test (and merge) about it", ov.Type().Field(i).Name, f.Kind())
		}
	}
	got := reflect.ValueOf((&signatures{}).merge(&o)).Elem()
	for i := range got.NumField() {
		if got.Field(i).IsZero() {
			t.Errorf("merge drops signatures.%s", got.Type().Field(i).Name)
		}
	}
}

// A panic while reading one format reaches the caller's goroutine, where the admission's recovery
// is, instead of ending the process; both functions have run when together returns.
func TestTogetherRaisesThePanicInTheCaller(t *testing.T) {
	ran := false
	got := func() (p any) {
		defer func() { p = recover() }()
		together(func() { panic("malformed signature") }, func() { ran = true })
		return nil
	}()
	if got != "malformed signature" || !ran {
		t.Errorf("recovered %v, g ran %v; want the panic raised in the caller after g ran", got, ran)
	}
	f, g := false, false
	together(func() { f = true }, func() { g = true })
	if !f || !g {
		t.Errorf("f ran %v, g ran %v; want both done when together returns", f, g)
	}
}
