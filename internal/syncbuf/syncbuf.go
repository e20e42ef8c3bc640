// Package syncbuf provides a bytes.Buffer that concurrent writers and readers may share: the logs of
// a server or process under test, read while it writes.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer collects what is written to it. Its zero value is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
