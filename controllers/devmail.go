package controllers

import (
	"bytes"
	"html/template"
	"net"

	"github.com/authstarter/authstarter/mail"
	"github.com/gofiber/fiber/v2"
)

// DevMailController serves the development mailbox: the recent messages of
// the development mailer, so that a new user can click a verification or
// reset link without a mail server. routes.go mounts it only in development.
type DevMailController struct {
	Mailbox *mail.Mailbox
}

// Page handles GET /dev/mail. The links in it are live sign-in and reset
// links, so it answers only to this machine (loopback): a development server
// reachable from the local network must not hand them to its neighbours.
func (h *DevMailController) Page(c *fiber.Ctx) error {
	if ip := net.ParseIP(c.Context().RemoteIP().String()); ip == nil || !ip.IsLoopback() {
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
