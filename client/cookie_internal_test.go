package client

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
)

// TestCookieURL: a jar knows ws:// URLs as http:// and wss:// as https://,
// so that a Secure cookie (the router's, on a TLS listener) travels over
// wss:// only. (net/http/cookiejar counts loopback hosts as secure, so the
// tests against a router on 127.0.0.1 cannot show this.)
func TestCookieURL(t *testing.T) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	jar.SetCookies(&url.URL{Scheme: "https", Host: "router.example.com", Path: "/ws"}, []*http.Cookie{
		{Name: "secure", Value: "s", Path: "/", Secure: true},
		{Name: "plain", Value: "p", Path: "/"},
	})
	for raw, want := range map[string]string{
		"wss://router.example.com:8443/ws?x=1": "secure=s; plain=p",
		"ws://router.example.com/ws":           "plain=p",
		"ws://other.example.com/ws":            "",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := cookieHeader(jar.Cookies(cookieURL(u))); got != want {
			t.Errorf("%s: Cookie: %q, want %q", raw, got, want)
		}
	}
}
