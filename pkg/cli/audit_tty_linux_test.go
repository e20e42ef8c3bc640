package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair, as a terminal emulator does, or skips the test.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var n, unlock uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Skipf("no pseudo-terminal: TIOCGPTN: %v", e)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Skipf("no pseudo-terminal: TIOCSPTLCK: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	return m, s
}

// TestAuditProgressOnATerminal is the other side of TestAuditTextOutput's check that a file gets no
// progress line: a terminal gets one while listing, cleared at the end.
func TestAuditProgressOnATerminal(t *testing.T) {
	f := newFakeAPI(t)
	f.addNamespace("prod", nil)
	f.add(auditPod("prod", "a", auditImage, false, nil), auditPod("prod", "b", auditImage, false, nil))
	f.addPolicy(auditPolicy("no-privileged", "Enforce", noPrivileged))
	f.webhook = auditWebhook(t)
	kubeconfig := f.start()

	master, tty := openPTY(t)
	defer master.Close()
	read := make(chan []byte)
	go func() {
		// Ends with EIO once the terminal side is closed.
		data, _ := io.ReadAll(master)
		read <- data
	}()
	var stdout bytes.Buffer
	code := Execute(context.Background(), []string{"audit", "--kubeconfig", kubeconfig}, IO{In: strings.NewReader(""), Out: &stdout, Err: tty})
	tty.Close()
	stderr := string(<-read)
	if code != ExitOK {
		t.Fatalf("exit %d, want 0; stderr: %q", code, stderr)
	}
	if !strings.Contains(stderr, "\r\033[Klisting pods… 2 objects so far") || !strings.HasSuffix(stderr, "\r\033[K") {
		t.Errorf("stderr on a terminal %q: want a progress line for pods, cleared at the end", stderr)
	}
	if strings.Contains(stdout.String(), "\033") {
		t.Errorf("escape sequences on stdout: %q", stdout.String())
	}
}
