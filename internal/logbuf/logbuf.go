// Package logbuf batches log output: one write per 64 KiB or per 100 ms
// instead of one per record: on a busy server, a write to stderr per request
// costs about as much as the request's whole token check. Records at Warn and
// above are written at once (FlushFrom), so a crash can only lose the
// request lines of its last 100 ms, never an error.
package logbuf

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Writer buffers what is written to it and writes it out when the buffer is
// full, every interval, and on Flush and Close.
type Writer struct {
	mu     sync.Mutex
	buf    *bufio.Writer
	out    io.Writer
	closed bool // after Close, writes go straight out
	stop   chan struct{}
	done   chan struct{}
}

// New returns a Writer in front of out that flushes every interval.
func New(out io.Writer, size int, interval time.Duration) *Writer {
	w := &Writer{buf: bufio.NewWriterSize(out, size), out: out, stop: make(chan struct{}), done: make(chan struct{})}
	go w.flushEvery(interval)
	return w
}

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.out.Write(p)
	}
	return w.buf.Write(p)
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Flush()
}

// Close stops the periodic flush and flushes one last time; later writes
// are not buffered.
func (w *Writer) Close() error {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return w.buf.Flush()
}

func (w *Writer) flushEvery(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.Flush()
		}
	}
}

// FlushFrom wraps h, which writes to w, so that a record at level or above
// is written out at once, with everything buffered before it.
func FlushFrom(h slog.Handler, w *Writer, level slog.Level) slog.Handler {
	return &flushingHandler{Handler: h, w: w, level: level}
}

type flushingHandler struct {
	slog.Handler
	w     *Writer
	level slog.Level
}

func (h *flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= h.level {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &flushingHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w, level: h.level}
}

func (h *flushingHandler) WithGroup(name string) slog.Handler {
	return &flushingHandler{Handler: h.Handler.WithGroup(name), w: h.w, level: h.level}
}
