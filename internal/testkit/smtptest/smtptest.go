// Package smtptest runs a real SMTP server for tests: go-smtp on a loopback
// port, with a freshly generated self-signed certificate, recording what it
// receives. Tests of other packages import it; it is never part of the app.
//
// mail's own tests use it from package mail_test, because smtptest imports
// mail for the TLSMode names.
package smtptest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/authstarter/authstarter/mail"
)

// Options configures the server.
type Options struct {
	// Mode is mail.TLSImplicit (TLS from the first byte), mail.TLSStartTLS
	// (plaintext, offers STARTTLS) or mail.TLSNone (plaintext, no STARTTLS);
	// "" means mail.TLSNone.
	Mode mail.TLSMode
	// Username and Password, when set, make AUTH PLAIN required: MAIL FROM
	// is refused until the client has authenticated with them.
	Username, Password string
}

// Received is one accepted message. From and To are the envelope (MAIL FROM,
// RCPT TO); Header holds the message's own headers. Text and HTML are the
// decoded text/plain and text/html parts with CRLF turned into LF.
type Received struct {
	From    string
	To      []string
	Raw     []byte
	Header  netmail.Header
	Subject string
	Text    string
	HTML    string

	parseErr error
}

// Server is a running test SMTP server.
type Server struct {
	t     testing.TB
	opts  Options
	addr  *net.TCPAddr
	roots *x509.CertPool

	mu       sync.Mutex
	inbox    []entry
	arrived  chan struct{} // closed (and replaced) whenever a message arrives
	failNext int
	stopped  bool // after cleanup, t.Logf would panic
}

type entry struct {
	msg      Received
	consumed bool
}

// Start starts a server on 127.0.0.1 and stops it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	cert, roots := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s := &Server{t: t, opts: opts, addr: ln.Addr().(*net.TCPAddr), roots: roots, arrived: make(chan struct{})}

	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{s: s}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.ErrorLog = testLogger{s}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	switch opts.Mode {
	case mail.TLSImplicit:
		ln = tls.NewListener(ln, serverTLS)
	case mail.TLSStartTLS:
		srv.TLSConfig = serverTLS // go-smtp offers STARTTLS and AUTH only after it
	case mail.TLSNone, "":
		srv.AllowInsecureAuth = true
	default:
		ln.Close()
		t.Fatalf("smtptest: unknown mode %q", opts.Mode)
	}

	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // returns nil after Close
	}()
	t.Cleanup(func() {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		srv.Close()
		// Serve registers the listener only once it runs; if the test was
		// over before that, srv.Close did not see it.
		ln.Close()
		<-served
	})
	return s
}

// Host is the server's IP address, "127.0.0.1".
func (s *Server) Host() string { return s.addr.IP.String() }

// Port is the server's port.
func (s *Server) Port() int { return s.addr.Port }

// RootCAs holds the server's certificate, for the client's tls.Config.
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// FailNext makes the next n messages fail at the end of DATA with
// "451 4.3.0", a temporary error a sender should retry. Failed messages
// are not recorded.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Wait returns the first message to the recipient to that no earlier Wait
// returned, waiting up to timeout; it fails the test on timeout. It calls
// t.Fatal, so call it only from the test's goroutine.
func (s *Server) Wait(t testing.TB, to string, timeout time.Duration) Received {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for i := range s.inbox {
			e := &s.inbox[i]
			if !e.consumed && slices.ContainsFunc(e.msg.To, func(rcpt string) bool { return strings.EqualFold(rcpt, to) }) {
				e.consumed = true
				s.mu.Unlock()
				if e.msg.parseErr != nil {
					t.Fatalf("smtptest: message to %s: %v\n%s", to, e.msg.parseErr, e.msg.Raw)
				}
				return e.msg
			}
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline.C:
			t.Fatalf("smtptest: no message to %s within %v", to, timeout)
		}
	}
}

// Messages returns every message received so far, waited for or not.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.inbox))
	for i, e := range s.inbox {
		out[i] = e.msg
	}
	return out
}

// accept records a message unless a FailNext failure is due.
func (s *Server) accept(from string, to []string, raw []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure (smtptest FailNext)"}
	}
	msg, err := parse(raw)
	msg.From, msg.To, msg.parseErr = from, to, err
	s.inbox = append(s.inbox, entry{msg: msg})
	close(s.arrived)
	s.arrived = make(chan struct{})
	return nil
}

// session is one SMTP connection's transaction state.
type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (se *session) AuthMechanisms() []string {
	if se.s.opts.Username == "" {
		return nil // AUTH is not advertised at all
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != se.s.opts.Username || password != se.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.opts.Username != "" && !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return se.s.accept(se.from, slices.Clone(se.to), raw)
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// testLogger sends go-smtp's connection errors (a refused certificate, for
// example) to the test log while the test runs, and drops them afterwards.
type testLogger struct{ s *Server }

func (l testLogger) Printf(format string, v ...any) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if !l.s.stopped {
		l.s.t.Logf("smtptest: "+format, v...)
	}
}

func (l testLogger) Println(v ...any) {
	l.Printf("%s", strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}
