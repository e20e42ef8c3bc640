package benchdoc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The commit is marked as changed for a change to anything but the file the benchmarks write.
func TestReadMachineMarksUncommittedChanges(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed: %v", err)
	}
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	write(PerformanceDoc, "before\n")
	write("main.go", "package main\n")
	git("add", ".")
	git("commit", "-q", "-m", "init")
	t.Chdir(filepath.Join(dir, "docs")) // the check covers the whole checkout, wherever it runs

	const mark = "(with uncommitted changes)"
	write(PerformanceDoc, "after a benchmark\n")
	if c := ReadMachine().Commit; c == "unknown" || strings.Contains(c, mark) {
		t.Errorf("only %s changed: Commit = %q, want the bare commit", PerformanceDoc, c)
	}
	write("main.go", "package main // changed\n")
	if c := ReadMachine().Commit; !strings.HasSuffix(c, mark) {
		t.Errorf("main.go changed: Commit = %q, want it marked", c)
	}
}
