// Package web holds the browser frontend, embedded into the binary.
package web

import "embed"

// Files is the frontend: plain HTML, CSS and JavaScript modules, no build step.
//
//go:embed index.html app.css app.js session.js reauth.js ui.js dashboard.js mfa.js passkeys.js providers.js notes.js account.js admin.js
var Files embed.FS

// Pages are the paths the frontend shows a view for; each serves index.html,
// and app.js picks the view from the path.
var Pages = []string{"/", "/login", "/signup", "/verify-email", "/forgot-password", "/reset-password", "/confirm-email-change", "/admin"}
