package smtptest

import (
	"net/smtp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/mail"
)

// The mail package's tests only send what go-mail writes (quoted-printable);
// these cover the other encodings and the server's own behaviour.

func TestParse(t *testing.T) {
	raw := strings.ReplaceAll(`Subject: =?UTF-8?q?Gr=C3=BC=C3=9Fe?=
From: a@example.com
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: base64

aGVsbG8g
d29ybGQ=
--inner
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: 8bit

<p>hello</p>
--inner--
--outer
Content-Type: text/plain; name=attachment.txt

not the body
--outer--
`, "\n", "\r\n")
	got, err := parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "Grüße" || got.Text != "hello world" || got.HTML != "<p>hello</p>" {
		t.Errorf("Subject, Text, HTML = %q, %q, %q", got.Subject, got.Text, got.HTML)
	}
	if got.Header.Get("From") != "a@example.com" {
		t.Errorf("From header = %q", got.Header.Get("From"))
	}
}

func TestServerAuthAndFailNext(t *testing.T) {
	s := Start(t, Options{Mode: mail.TLSNone, Username: "u", Password: "p"})
	addr := s.Host() + ":" + strconv.Itoa(s.Port())
	body := []byte("Subject: hi\r\n\r\nbody\r\n")

	// net/smtp sends PLAIN unencrypted only to localhost, which this is.
	if err := smtp.SendMail(addr, nil, "a@example.com", []string{"b@example.com"}, body); err == nil {
		t.Error("accepted a message without AUTH")
	}
	if err := smtp.SendMail(addr, smtp.PlainAuth("", "u", "wrong", s.Host()), "a@example.com", []string{"b@example.com"}, body); err == nil {
		t.Error("accepted a wrong password")
	}

	auth := smtp.PlainAuth("", "u", "p", s.Host())
	s.FailNext(1)
	err := smtp.SendMail(addr, auth, "a@example.com", []string{"b@example.com"}, body)
	if err == nil || !strings.HasPrefix(err.Error(), "451") {
		t.Errorf("FailNext: err = %v, want a 451", err)
	}
	for _, to := range []string{"b@example.com", "c@example.com", "b@example.com"} {
		if err := smtp.SendMail(addr, auth, "a@example.com", []string{to}, body); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.Messages()); n != 3 {
		t.Errorf("recorded %d messages, want 3 (not the failed one)", n)
	}
	// Wait hands out each message once, in order of arrival.
	for range 2 {
		if got := s.Wait(t, "B@example.com", time.Second); got.From != "a@example.com" || got.Text != "body\n" {
			t.Errorf("got %+v", got)
		}
	}
	if got := s.Wait(t, "c@example.com", time.Second); got.Subject != "hi" {
		t.Errorf("Subject = %q", got.Subject)
	}
}
