package controllers

import (
	"bytes"
	"html/template"
	"net"
	"strings"

	"github.com/authstarter/authstarter/mail"
	"github.com/gofiber/fiber/v2"
)

// DevMailController serves the development mailbox: the recent messages of
// the development mailer, so that a new user can click a verification or
// reset link without a mail server. routes.go mounts it only in development.
type DevMailController struct {
	Mailbox *mail.Mailbox
}

// Page handles GET /dev/mail. Its links are live sign-in and reset links of
// every user, so it answers only to a browser on this machine, directly: the
// connection must be loopback (not the local network), carry no forwarding
// header (not a reverse proxy or a tunnel such as ngrok, which connect from
// loopback on behalf of the internet), and its Host must be localhost or a
// loopback address (not a web page that points its own domain at 127.0.0.1,
// DNS rebinding, to read it through the developer's browser).
func (h *DevMailController) Page(c *fiber.Ctx) error {
	if !isLoopback(c.Context().RemoteIP().String()) || forwarded(c) || !isLocalHost(string(c.Request().Host())) {
		return fiber.ErrNotFound
	}
	var page bytes.Buffer
	if err := devMailPage.Execute(&page, h.Mailbox.Messages()); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Send(page.Bytes())
}

func isLoopback(addr string) bool {
	ip := net.ParseIP(addr)
	return ip != nil && ip.IsLoopback()
}

// forwardingHeaders are set by proxies and tunnels on behalf of a client
// elsewhere.
var forwardingHeaders = []string{fiber.HeaderXForwardedFor, fiber.HeaderXForwardedHost, fiber.HeaderXForwardedProto,
	"Forwarded", "X-Real-Ip", "Cf-Connecting-Ip", "True-Client-Ip"}

func forwarded(c *fiber.Ctx) bool {
	for _, name := range forwardingHeaders {
		if c.Get(name) != "" {
			return true
		}
	}
	return false
}

// isLocalHost reports whether a Host header names this machine. The raw
// header, not c.Hostname(), which would believe X-Forwarded-Host.
func isLocalHost(hostport string) bool {
	host := hostport
	if name, _, err := net.SplitHostPort(hostport); err == nil {
		host = name
	}
	host = strings.Trim(strings.ToLower(host), "[]")
	return host == "localhost" || isLoopback(host)
}

var devMailPage = template.Must(template.New("devmail").Parse(`<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Development mailbox</title>
  <link rel="stylesheet" href="/app.css">
</head>
<body>
  <main>
    <h1>Development mailbox</h1>
    <p>No SMTP server is configured, so mail is not sent: the newest messages are shown here (and in the server log). This page does not exist in production.</p>
    {{range .}}
    <article class="mail">
      <h2>{{.Subject}}</h2>
      <p class="meta">To {{.To}} · {{.At.Format "2006-01-02 15:04:05 UTC"}}</p>
      {{if .Link}}<p><a href="{{.Link}}">{{.Link}}</a></p>{{end}}
      <pre>{{.Text}}</pre>
    </article>
    {{else}}
    <p>No mail yet. Sign up, or ask for a password reset, and reload this page.</p>
    {{end}}
  </main>
</body>
</html>
`))
