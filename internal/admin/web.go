package admin

import "embed"

// webFiles are the web view's page, script and style sheet: served from the
// binary, with nothing fetched from elsewhere.
//
//go:embed web/index.html web/app.js web/style.css
var webFiles embed.FS
