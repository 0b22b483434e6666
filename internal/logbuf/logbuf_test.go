package logbuf

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is the terminal: what reached it was written out.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Info records wait in the buffer and leave together, in one write; a
// warning takes everything before it out at once.
func TestRecordsAreBatchedAndWarningsWrittenAtOnce(t *testing.T) {
	out := &syncBuffer{}
	w := New(out, 64<<10, time.Hour)
	defer w.Close()
	log := slog.New(FlushFrom(slog.NewTextHandler(w, nil), w, slog.LevelWarn)).With("app", "test")

	for range 100 {
		log.Info("request")
	}
	if got := out.String(); got != "" {
		t.Fatalf("info records were written before any flush: %q", got)
	}
	log.Warn("trouble")
	got := out.String()
	if n := strings.Count(got, "msg=request"); n != 100 {
		t.Fatalf("after a warning %d request records are out, want all 100", n)
	}
	if !strings.Contains(got, "msg=trouble app=test") {
		t.Fatalf("the warning is not out: %q", got)
	}
	if out.writes != 1 {
		t.Fatalf("%d writes, want 1", out.writes)
	}
}

// Buffered records go out on the interval, and on Close.
func TestBufferIsFlushedOnIntervalAndClose(t *testing.T) {
	out := &syncBuffer{}
	w := New(out, 64<<10, 10*time.Millisecond)
	w.Write([]byte("first\n"))
	deadline := time.Now().Add(5 * time.Second)
	for out.String() == "" {
		if time.Now().After(deadline) {
			t.Fatal("a buffered line was not written within 5 s of a 10 ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}

	w2 := New(out, 64<<10, time.Hour)
	w2.Write([]byte("last\n"))
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "last\n") {
		t.Fatalf("Close did not write out the buffer: %q", out.String())
	}
	w2.Write([]byte("after\n"))
	if !strings.HasSuffix(out.String(), "after\n") {
		t.Fatalf("a line written after Close was kept back: %q", out.String())
	}
	w.Close()
}
