package main

// The WAMP command-line client: junction sub, pub, call and register. Each
// command joins a realm with package client, does one thing and prints what
// happened, for a person by default and as JSON lines with --json.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// cliConfig is what every client command takes: where to connect, how, and
// how to print.
type cliConfig struct {
	url, realm, serializer string
	authid, authrole       string
	ticket, secret         string // ticket, WAMP-CRA secret
	password, privateKey   string // WAMP-SCRAM password, cryptosign seed (hex)
	ca, cert, key          string // TLS: CA bundle to trust, client certificate and key files
	json                   bool
	timeout                time.Duration
	envErr                 error         // a default from the environment that is not valid
	fs                     *flag.FlagSet // the flags, to tell given ones from defaults
	certAsked              atomic.Bool   // the router asked for the --cert certificate
}

// env reads a default from the environment.
func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// flags declares the common flags, with defaults from the environment.
func (c *cliConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", env("JUNCTION_URL", "ws://127.0.0.1:8080/ws"), "router URL: ws://, wss://, rs:// (tcp://), rss:// (tls://), unix:///path [$JUNCTION_URL]")
	fs.StringVar(&c.realm, "realm", env("JUNCTION_REALM", "realm1"), "realm to join [$JUNCTION_REALM]")
	fs.StringVar(&c.serializer, "serializer", env("JUNCTION_SERIALIZER", "json"), "json, msgpack or cbor [$JUNCTION_SERIALIZER]")
	fs.StringVar(&c.authid, "authid", env("JUNCTION_AUTHID", ""), "authentication id [$JUNCTION_AUTHID]")
	fs.StringVar(&c.authrole, "authrole", env("JUNCTION_AUTHROLE", ""), "authentication role asked for [$JUNCTION_AUTHROLE]")
	fs.StringVar(&c.ticket, "ticket", env("JUNCTION_TICKET", ""), "ticket authentication [$JUNCTION_TICKET]")
	fs.StringVar(&c.secret, "secret", env("JUNCTION_SECRET", ""), "WAMP-CRA secret [$JUNCTION_SECRET]")
	fs.StringVar(&c.password, "password", env("JUNCTION_PASSWORD", ""), "WAMP-SCRAM password [$JUNCTION_PASSWORD]")
	fs.StringVar(&c.privateKey, "private-key", env("JUNCTION_PRIVATE_KEY", ""), "cryptosign private key, 64 hex digits of its seed [$JUNCTION_PRIVATE_KEY]")
	fs.StringVar(&c.ca, "ca", env("JUNCTION_CA", ""), "PEM `file` of the CAs to trust for the router's certificate (wss://, rss://, tls://) instead of the system's [$JUNCTION_CA]")
	fs.StringVar(&c.cert, "cert", env("JUNCTION_CERT", ""), "PEM `file` of a TLS client certificate: logs in by it (authmethod tls); needs --key [$JUNCTION_CERT]")
	fs.StringVar(&c.key, "key", env("JUNCTION_KEY", ""), "PEM `file` of the private key of --cert [$JUNCTION_KEY]")
	fs.BoolVar(&c.json, "json", c.envBool("JUNCTION_JSON"), "print JSON lines [$JUNCTION_JSON]")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "bound on connecting, and on the call or publication")
	c.fs = fs
}

// envBool reads a boolean default from the environment, as the flag reads
// its value (true, false, 1, 0, ...); unset or empty is false.
func (c *cliConfig) envBool(key string) bool {
	v := os.Getenv(key)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		c.envErr = fmt.Errorf("$%s %q: not a boolean (true, false, 1 or 0)", key, v)
	}
	return b
}

// check refuses flag values the command cannot use, before it connects.
func (c *cliConfig) check(fs *flagSet) error {
	if c.envErr != nil && !c.given("json") {
		return c.envErr
	}
	if c.timeout <= 0 {
		return fs.usageError(fmt.Sprintf("--timeout %v: must be more than 0", c.timeout))
	}
	return nil
}

// given reports whether the flag name was on the command line (not a
// default, nor one from the environment).
func (c *cliConfig) given(name string) bool {
	found := false
	if c.fs != nil {
		c.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	}
	return found
}

// tlsURL reports whether rawURL names a transport over TLS.
func tlsURL(rawURL string) bool {
	scheme, _, _ := strings.Cut(rawURL, "://")
	switch strings.ToLower(scheme) {
	case "wss", "rss", "tls":
		return true
	}
	return false
}

// tlsConfig reads --ca, --cert and --key; nil when none is set. On a URL
// without TLS they are an error when given on the command line, and
// dropped when they come from the environment.
func (c *cliConfig) tlsConfig() (*tls.Config, error) {
	if c.ca == "" && c.cert == "" && c.key == "" {
		return nil, nil
	}
	if !tlsURL(c.url) {
		for _, name := range []string{"ca", "cert", "key"} {
			if c.given(name) {
				return nil, fmt.Errorf("--%s is for wss://, rss:// and tls:// URLs, not %s", name, c.url)
			}
		}
		c.ca, c.cert, c.key = "", "", ""
		return nil, nil
	}
	cfg := &tls.Config{}
	if c.ca != "" {
		pem, err := os.ReadFile(c.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate in it", c.ca)
		}
		cfg.RootCAs = pool
	}
	switch {
	case c.cert != "" && c.key == "":
		return nil, errors.New("--cert needs --key, the file of its private key")
	case c.key != "" && c.cert == "":
		return nil, errors.New("--key needs --cert, the file of its certificate")
	case c.cert != "":
		certPEM, err := os.ReadFile(c.cert)
		if err != nil {
			return nil, fmt.Errorf("--cert: %w", err)
		}
		keyPEM, err := os.ReadFile(c.key)
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("--cert %s and --key %s: %w", c.cert, c.key, err)
		}
		// Presented whenever the router asks, even when it names other
		// CAs (where Go would send none): a router that does not trust it
		// then says so in the handshake.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c.certAsked.Store(true)
			return &pair, nil
		}
	}
	return cfg, nil
}

// explainTLS adds what to check to a TLS handshake failure, or to a
// refusal of a client certificate the router never asked for.
func (c *cliConfig) explainTLS(err error) error {
	var unknown x509.UnknownAuthorityError
	var ce *client.CloseError
	switch {
	case errors.As(err, &unknown) && c.ca != "":
		return fmt.Errorf("%w (no CA in --ca %s issued the router's certificate)", err, c.ca)
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (no system CA issued the router's certificate: give its CA with --ca FILE)", err)
	case c.cert != "" && c.certAsked.Load() && strings.Contains(err.Error(), "remote error: tls:"):
		return fmt.Errorf("%w (the router refused the client certificate of --cert %s)", err, c.cert)
	case c.cert != "" && !c.certAsked.Load() && errors.As(err, &ce) && ce.Reason == wamp.ErrAuthenticationFailed:
		return fmt.Errorf("%w (the router did not ask for a client certificate, so --cert was not sent)", err)
	}
	return err
}

// options turns the flags into client options.
func (c *cliConfig) options(stderr io.Writer) (*client.Options, error) {
	o := &client.Options{AuthID: c.authid, Agent: "junction-cli " + versionString()}
	switch strings.ToLower(c.serializer) {
	case "json", "":
		o.Serializer = wamp.FormatJSON
	case "msgpack":
		o.Serializer = wamp.FormatMsgPack
	case "cbor":
		o.Serializer = wamp.FormatCBOR
	default:
		return nil, fmt.Errorf("--serializer %q: not json, msgpack or cbor", c.serializer)
	}
	if c.authrole != "" {
		o.HelloDetails = wamp.Dict{"authrole": c.authrole}
	}
	if c.ticket != "" {
		o.Credentials = append(o.Credentials, client.Ticket(c.ticket))
	}
	if c.secret != "" {
		o.Credentials = append(o.Credentials, client.WAMPCRA(c.secret))
	}
	if c.password != "" {
		o.Credentials = append(o.Credentials, client.SCRAM(c.password))
	}
	if c.privateKey != "" {
		key, err := client.CryptosignKey(c.privateKey)
		if err != nil {
			return nil, fmt.Errorf("--private-key: %w", err)
		}
		o.Credentials = append(o.Credentials, client.Cryptosign(key))
	}
	if (c.ticket != "" || c.secret != "" || c.password != "") && c.authid == "" {
		return nil, errors.New("--authid is needed with --ticket, --secret or --password")
	}
	cfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		o.TLSConfig = cfg
		if c.cert != "" {
			// First: it logs in with nothing secret on the wire.
			o.Credentials = append([]client.Credential{client.TLSCertificate()}, o.Credentials...)
		}
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return o, nil
}

// connect joins the realm; long-running commands reconnect.
func (c *cliConfig) connect(ctx context.Context, stderr io.Writer, reconnect bool) (*client.Session, error) {
	o, err := c.options(stderr)
	if err != nil {
		return nil, err
	}
	if reconnect {
		o.Reconnect = &client.Reconnect{
			OnDisconnect: func(err error) { fmt.Fprintf(stderr, "junction: connection lost (%v), reconnecting\n", err) },
			OnReconnect: func(r client.Reconnected) {
				fmt.Fprintf(stderr, "junction: reconnected as session %d\n", r.Session)
				for _, err := range r.Failed {
					fmt.Fprintf(stderr, "junction: %v\n", err)
				}
			},
		}
	}
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	s, err := client.Dial(dctx, c.url, c.realm, o)
	if err != nil {
		return nil, c.explainTLS(err)
	}
	return s, nil
}

// closeSession says goodbye within a short bound.
func closeSession(s *client.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.Close(ctx)
}

// parseValue reads a command-line argument: JSON when it parses as JSON
// (42, true, null, "s", [1,2], {"a":1}), the string itself otherwise. An
// integer that fits in neither int64 nor uint64 is an error: the router
// refuses it (it would have to become an inexact float), so it must be
// quoted to travel as a string; so is a number beyond a float64 (1e400,
// which would be +Inf). A JSON string in WAMP's JSON form of binary,
// "\u0000" and base64, is that binary value.
func parseValue(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return s, nil
	}
	if _, err := d.Token(); err != io.EOF {
		return s, nil
	}
	return fromJSON(v)
}

// fromJSON turns json.Numbers into int64 (or uint64) when integral, float64
// otherwise, and strings in WAMP's JSON form of binary into []byte.
func fromJSON(v any) (any, error) {
	var err error
	switch x := v.(type) {
	case string:
		if b64, ok := strings.CutPrefix(x, "\x00"); ok {
			b, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				return nil, fmt.Errorf("a string starting with \\u0000 is binary, and %q is not base64", b64)
			}
			return b, nil
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
		if strings.ContainsAny(string(x), ".eE") {
			f, _ := x.Float64()
			if math.IsInf(f, 0) {
				return nil, fmt.Errorf("number %s is beyond a 64-bit float (quote it to send it as a string)", x)
			}
			return f, nil
		}
		u, err := strconv.ParseUint(string(x), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("integer %s does not fit in 64 bits (quote it to send it as a string)", x)
		}
		return u, nil
	case []any:
		for i, e := range x {
			if x[i], err = fromJSON(e); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k, e := range x {
			if x[k], err = fromJSON(e); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// parseArgs reads positional arguments.
func parseArgs(ss []string) (wamp.List, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	l := make(wamp.List, len(ss))
	for i, s := range ss {
		v, err := parseValue(s)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		l[i] = v
	}
	return l, nil
}

// kwFlag collects repeated -k key=value flags.
type kwFlag wamp.Dict

func (k kwFlag) String() string { return "" }

func (k kwFlag) Set(s string) error {
	key, val, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	v, err := parseValue(val)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	k[key] = v
	return nil
}

// jsonText encodes v as compact JSON for a person or a script to read:
// <, > and & as themselves (not Go's HTML-safe \u003c...), and binary
// values in WAMP's JSON form, "\u0000" and the bytes in base64, which
// parseValue reads back as binary (a plain base64 string would read as
// text).
func jsonText(v any) string {
	var b strings.Builder
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(wampJSON(v)); err != nil {
		return fmt.Sprintf("%v", v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// wampJSON returns v with its binary values, however deep, in WAMP's JSON
// form; v itself is left as it is.
func wampJSON(v any) any {
	switch x := v.(type) {
	case []byte:
		return "\x00" + base64.StdEncoding.EncodeToString(x)
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = wampJSON(e)
		}
		return l
	case map[string]any:
		d := make(map[string]any, len(x))
		for k, e := range x {
			d[k] = wampJSON(e)
		}
		return d
	}
	return v
}

// human formats a payload for a person: the arguments as JSON values
// separated by spaces, then key=value pairs in key order.
func human(args wamp.List, kwargs wamp.Dict) string {
	var parts []string
	for _, a := range args {
		parts = append(parts, jsonText(a))
	}
	keys := make([]string, 0, len(kwargs))
	for k := range kwargs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+jsonText(kwargs[k]))
	}
	return strings.Join(parts, " ")
}

// payloadJSON is the JSON form of a payload, with empty parts left out.
func payloadJSON(m map[string]any, args wamp.List, kwargs wamp.Dict) map[string]any {
	m["args"] = args
	if args == nil {
		m["args"] = wamp.List{}
	}
	if len(kwargs) > 0 {
		m["kwargs"] = kwargs
	}
	return m
}

// printError prints a WAMP error (its URI first) or any other error.
func printError(w io.Writer, cmd string, err error, asJSON bool) {
	var we *client.Error
	if !errors.As(err, &we) {
		fmt.Fprintf(w, "junction %s: %v\n", cmd, err)
		return
	}
	if asJSON {
		fmt.Fprintln(w, jsonText(payloadJSON(map[string]any{"error": we.URI}, we.Args, we.Kwargs)))
		return
	}
	if p := human(we.Args, we.Kwargs); p != "" {
		fmt.Fprintf(w, "%s %s\n", we.URI, p)
	} else {
		fmt.Fprintln(w, we.URI)
	}
}

// errPrinted is returned when the error was printed already.
var errPrinted = errors.New("error printed")

// The help texts of the client commands; each ends before its flags.
const (
	subUsage = `usage: junction sub [flags] TOPIC

Subscribes to TOPIC and prints its events until interrupted (or --count
events), one a line: the topic, then the arguments as JSON values and the
keyword arguments as key=value; with --json, one JSON object a line. It
reconnects and subscribes again when the connection is lost. A SUBSCRIBE
the router refuses prints its ERROR on stderr, as call does, and exits 1.`

	pubUsage = `usage: junction pub [flags] TOPIC [ARG...]

Publishes one event to TOPIC and waits for the router's acknowledgement. An
ARG that parses as JSON (42, -1.5, true, null, "s", [1,2], {"a":1}) is sent
as that value, anything else as a string; -k key=value adds a keyword
argument, its value read the same way. A JSON string of "\u0000" and
base64 ('"\u0000aGk="') is binary, as in WAMP's JSON serialization; the
commands print binary values in that form too.`

	callUsage = `usage: junction call [flags] PROCEDURE [ARG...]

Calls PROCEDURE and prints its result (progressive results as they come):
the arguments as JSON values, the keyword arguments as key=value; with
--json, one JSON object a line. ARGs and -k key=value are read as for pub.
An ERROR prints its URI and payload on stderr and exits 1.`

	registerUsage = `usage: junction register [flags] PROCEDURE -- COMMAND [ARG...]

Registers PROCEDURE and runs COMMAND for each invocation, until interrupted
(invocations run at once, each its own process; a canceled call kills it,
and on Unix every process it started):

  standard input       the invocation's arguments: a JSON list and a newline
  $JUNCTION_KWARGS     its keyword arguments: a JSON object ({} for none)
  $JUNCTION_PROCEDURE  the procedure called (with --match prefix or
                       wildcard: the URI the caller called)
  standard output      the result, one argument: a JSON value when the
                       output (less its last newline) parses as one, the
                       text otherwise; empty output: a result with none

A COMMAND that exits with a status other than 0 answers the call with the
error junction.error.command_failed: its standard error as the argument
and exit_code as a keyword argument. Everything after -- is COMMAND and
its arguments, flags included.`
)

// runSub prints the events of a topic until interrupted (or --count).
func runSub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c cliConfig
	fs := newFlagSet("sub", subUsage)
	c.flags(fs.FlagSet)
	match := fs.String("match", "exact", "exact, prefix or wildcard")
	count := fs.Int("count", 0, "exit after this many events (0: run until interrupted)")
	retained := fs.Bool("retained", false, "ask for the topic's retained event first")
	rest, err := fs.parse(args, stdout)
	if err != nil {
		return err
	}
	if err := c.check(fs); err != nil {
		return err
	}
	if *count < 0 {
		return fs.usageError(fmt.Sprintf("--count %d: must be 0 (no limit) or more", *count))
	}
	if len(rest) != 1 {
		return fs.usageError(fmt.Sprintf("one TOPIC expected, got %d arguments", len(rest)))
	}
	topic := rest[0]
	s, err := c.connect(ctx, stderr, true)
	if err != nil {
		return err
	}
	defer closeSession(s)
	// done, closed before closeSession, frees a handler that waits to
	// hand on an event nobody will read (after --count events): Close
	// waits for the handlers.
	events, done := make(chan *client.Event, 256), make(chan struct{})
	defer close(done)
	sctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	_, err = s.Subscribe(sctx, topic, func(ev *client.Event) {
		select {
		case events <- ev:
		case <-done:
		case <-ctx.Done():
		}
	}, client.SubscribeOptions{Match: *match, GetRetained: *retained}.Dict())
	if err != nil {
		printError(stderr, "sub", err, c.json)
		return errPrinted
	}
	if c.json {
		fmt.Fprintln(stdout, jsonText(map[string]any{"subscribed": topic, "session": s.ID()}))
	} else {
		fmt.Fprintf(stderr, "subscribed to %s\n", topic)
	}
	for n := 0; *count == 0 || n < *count; n++ {
		select {
		case ev := <-events:
			if c.json {
				m := map[string]any{"topic": ev.Topic, "publication": ev.Publication}
				if len(ev.Details) > 0 {
					m["details"] = ev.Details
				}
				fmt.Fprintln(stdout, jsonText(payloadJSON(m, ev.Args, ev.Kwargs)))
			} else {
				fmt.Fprintf(stdout, "%s %s\n", ev.Topic, human(ev.Args, ev.Kwargs))
			}
		case <-s.Done():
			return s.Err()
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// runPub publishes one event and waits for the router's acknowledgement.
func runPub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c cliConfig
	fs := newFlagSet("pub", pubUsage)
	c.flags(fs.FlagSet)
	kw := kwFlag{}
	fs.Var(kw, "k", "keyword argument key=value (repeatable)")
	retain := fs.Bool("retain", false, "ask the router to retain the event")
	rest, err := fs.parse(args, stdout)
	if err != nil {
		return err
	}
	if err := c.check(fs); err != nil {
		return err
	}
	if len(rest) < 1 {
		return fs.usageError("TOPIC expected")
	}
	pargs, err := parseArgs(rest[1:])
	if err != nil {
		return fs.usageError(err.Error())
	}
	s, err := c.connect(ctx, stderr, false)
	if err != nil {
		return err
	}
	defer closeSession(s)
	pctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	id, err := s.Publish(pctx, rest[0], pargs, wamp.Dict(kw),
		client.PublishOptions{Acknowledge: true, Retain: *retain}.Dict())
	if err != nil {
		printError(stderr, "pub", err, c.json)
		return errPrinted
	}
	if c.json {
		fmt.Fprintln(stdout, jsonText(map[string]any{"publication": id}))
	} else {
		fmt.Fprintf(stdout, "published %d to %s\n", id, rest[0])
	}
	return nil
}

// runCall calls a procedure and prints its result, and progressive results
// as they come.
func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c cliConfig
	fs := newFlagSet("call", callUsage)
	c.flags(fs.FlagSet)
	kw := kwFlag{}
	fs.Var(kw, "k", "keyword argument key=value (repeatable)")
	progress := fs.Bool("progress", true, "ask for progressive results and print them as they come")
	rest, err := fs.parse(args, stdout)
	if err != nil {
		return err
	}
	if err := c.check(fs); err != nil {
		return err
	}
	if len(rest) < 1 {
		return fs.usageError("PROCEDURE expected")
	}
	proc := rest[0]
	cargs, err := parseArgs(rest[1:])
	if err != nil {
		return fs.usageError(err.Error())
	}
	s, err := c.connect(ctx, stderr, false)
	if err != nil {
		return err
	}
	defer closeSession(s)
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	show := func(r *client.Result) {
		if c.json {
			m := map[string]any{}
			if r.Progress() {
				m["progress"] = true
			}
			fmt.Fprintln(stdout, jsonText(payloadJSON(m, r.Args, r.Kwargs)))
		} else {
			fmt.Fprintln(stdout, human(r.Args, r.Kwargs))
		}
	}
	var res *client.Result
	if *progress {
		res, err = s.CallProgress(cctx, proc, cargs, wamp.Dict(kw), nil, func(r *client.Result) error {
			show(r)
			return nil
		})
	} else {
		res, err = s.Call(cctx, proc, cargs, wamp.Dict(kw), nil)
	}
	if err != nil {
		printError(stderr, "call", err, c.json)
		return errPrinted
	}
	show(res)
	return nil
}

// commandFailed is the error URI of an invocation whose command failed.
const commandFailed wamp.URI = "junction.error.command_failed"

// runRegister registers a procedure that runs a command per invocation:
// the arguments go to its stdin as a JSON list, the keyword arguments to
// $JUNCTION_KWARGS as a JSON dict, the procedure to $JUNCTION_PROCEDURE;
// its stdout is the result (a JSON value when it parses as one, the text
// otherwise). A command that fails answers junction.error.command_failed
// with its stderr and exit status.
func runRegister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c cliConfig
	fs := newFlagSet("register", registerUsage)
	c.flags(fs.FlagSet)
	match := fs.String("match", "exact", "exact, prefix or wildcard")
	invoke := fs.String("invoke", "single", "shared registration policy: single, roundrobin, random, first or last")
	rest, err := fs.parse(args, stdout)
	if err != nil {
		return err
	}
	if err := c.check(fs); err != nil {
		return err
	}
	if len(rest) < 2 {
		return fs.usageError("PROCEDURE and COMMAND expected")
	}
	proc, command := rest[0], rest[1:]
	s, err := c.connect(ctx, stderr, true)
	if err != nil {
		return err
	}
	defer closeSession(s)
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	_, err = s.Register(rctx, proc, func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		return runCommand(ctx, command, inv)
	}, client.RegisterOptions{Match: *match, Invoke: *invoke}.Dict())
	if err != nil {
		printError(stderr, "register", err, c.json)
		return errPrinted
	}
	if c.json {
		fmt.Fprintln(stdout, jsonText(map[string]any{"registered": proc, "session": s.ID()}))
	} else {
		fmt.Fprintf(stdout, "registered %s\n", proc)
	}
	select {
	case <-s.Done():
		return s.Err()
	case <-ctx.Done():
		return nil
	}
}

func runCommand(ctx context.Context, command []string, inv *client.Invocation) (*client.Result, error) {
	args := inv.Args
	if args == nil {
		args = wamp.List{}
	}
	kwargs := inv.Kwargs
	if kwargs == nil {
		kwargs = wamp.Dict{}
	}
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	// Canceled, the command dies with the processes it started (a shell's
	// children): they would hold its output open, and run on.
	killGroupOnCancel(cmd)
	cmd.WaitDelay = time.Second // for a process that left the group
	cmd.Stdin = strings.NewReader(jsonText(args) + "\n")
	cmd.Env = append(os.Environ(), "JUNCTION_KWARGS="+jsonText(kwargs), "JUNCTION_PROCEDURE="+inv.Procedure)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		msg := strings.TrimSpace(errOut.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, &client.Error{URI: commandFailed, Args: wamp.List{msg}, Kwargs: wamp.Dict{"exit_code": int64(code)}}
	}
	text := strings.TrimSuffix(out.String(), "\n")
	if text == "" {
		return &client.Result{}, nil
	}
	v, err := parseValue(text)
	if err != nil {
		return nil, &client.Error{URI: commandFailed, Args: wamp.List{"the command's output: " + err.Error()}}
	}
	return &client.Result{Args: wamp.List{v}}, nil
}
