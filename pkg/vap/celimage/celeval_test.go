package celimage

import (
	"sync"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/apiserver/pkg/cel/library"
)

// The tests evaluate CEL the way the ValidatingAdmissionPolicy plugin does: its compiler
// (plugin/cel.NewCompiler over the base environment of this API server version, stored
// expressions, strict cost), a validation expression over `object`, and the cost it reports.

// validationExpr is a validation of a VAP: an expression over object that returns bool.
type validationExpr string

func (e validationExpr) GetExpression() string    { return string(e) }
func (e validationExpr) ReturnTypes() []*cel.Type { return []*cel.Type{cel.BoolType} }

var (
	compilerOnce sync.Once
	compiler     plugincel.Compiler
)

// imageProgram compiles check, a function of one image's CEL expression, as a VAP validation
// over every container of a pod: object.spec.containers.all(c, check("c.image")).
type imageProgram struct {
	expr string
	prog cel.Program
}

func compileImageCheck(t testing.TB, check func(img string) string) *imageProgram {
	t.Helper()
	compilerOnce.Do(func() {
		compiler = plugincel.NewCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	})
	expr := "object.spec.containers.all(c, " + check("c.image") + ")"
	res := compiler.CompileCELExpression(validationExpr(expr), plugincel.OptionalVariableDeclarations{}, environment.StoredExpressions)
	if res.Error != nil {
		t.Fatalf("compiling %s: %v", expr, res.Error)
	}
	return &imageProgram{expr: expr, prog: res.Program}
}

// eval returns the verdict for one image and the runtime cost the API server would charge.
func (p *imageProgram) eval(t testing.TB, image string) (bool, uint64) {
	t.Helper()
	obj := map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": image}}}}
	val, details, err := p.prog.Eval(map[string]any{"object": obj})
	if err != nil {
		t.Fatalf("evaluating for image %q: %v", image, err)
	}
	b, ok := val.Value().(bool)
	if !ok {
		t.Fatalf("evaluating for image %q: got %v, want a bool", image, val)
	}
	if details == nil || details.ActualCost() == nil {
		t.Fatalf("evaluating for image %q: no cost reported", image)
	}
	return b, *details.ActualCost()
}

// estimateCost is the API server's static cost estimate of check over a string variable whose
// length is at most MaxValidReferenceLength: every check tests size() first and stops there for
// anything longer, so nothing else runs over a longer string.
func estimateCost(t testing.TB, check func(img string) string) checker.CostEstimate {
	t.Helper()
	envSet, err := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).Extend(environment.VersionedOptions{
		IntroducedVersion: environment.DefaultCompatibilityVersion(),
		EnvOptions:        []cel.EnvOption{cel.Variable("image", cel.StringType)},
	})
	if err != nil {
		t.Fatal(err)
	}
	env, err := envSet.Env(environment.StoredExpressions)
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(check("image"))
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	est, err := env.EstimateCost(ast, &library.CostEstimator{SizeEstimator: imageSize{}})
	if err != nil {
		t.Fatal(err)
	}
	return est
}

type imageSize struct{}

func (imageSize) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	if p := n.Path(); len(p) == 1 && p[0] == "image" {
		return &checker.SizeEstimate{Min: 0, Max: MaxValidReferenceLength}
	}
	return nil
}

func (imageSize) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// perCallLimit is the API server's limit for one CEL evaluation.
const perCallLimit = celconfig.PerCallLimit
