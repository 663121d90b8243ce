package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestREADMEOperating runs the commands of the README's Operating section,
// as shown, and compares their output with the README's: `junction serve`
// (built from this package), `junction passwd`, curl. The addresses the
// README shows become the loopback ports the servers really got (tests
// listen on port 0 and only on loopback, so the config's 0.0.0.0:8080
// listener is 127.0.0.1:0 here). An expected line that ends in "..."
// matches by its beginning; a line of "..." alone matches any output.
func TestREADMEOperating(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the README's commands need curl (apt-get install curl; bash .ci/deps installs it)")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile("(?s)\n## Operating\n(.*?)\n### Metrics\n").FindSubmatch(readme)
	if section == nil {
		t.Fatal("README.md has no Operating section")
	}
	text := string(section[1])
	blocks := regexp.MustCompile("(?s)```console\n(.*?)```").FindAllStringSubmatch(text, -1)
	config := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(text)
	if len(blocks) < 2 || config == nil {
		t.Fatalf("the Operating section has %d console blocks and config %v", len(blocks), config != nil)
	}

	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "junction"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	local := strings.NewReplacer("0.0.0.0:8080", "127.0.0.1:0", "127.0.0.1:9090", "127.0.0.1:0").Replace(config[1])
	if err := os.WriteFile(filepath.Join(dir, "junction.yaml"), []byte(local), 0o600); err != nil {
		t.Fatal(err)
	}

	for i, b := range blocks {
		t.Run(string(rune('A'+i)), func(t *testing.T) {
			addrs := map[string]string{}
			var serving *exec.Cmd
			defer func() {
				if serving != nil {
					serving.Process.Signal(os.Interrupt)
					serving.Wait()
				}
			}()
			for _, step := range consoleSteps(b[1]) {
				if strings.HasPrefix(step.cmd, "junction serve") && !strings.Contains(step.cmd, "--check") {
					serving = startREADMEServe(t, dir, step.cmd, addrs)
					continue
				}
				cmd := step.cmd
				for shown, real := range addrs {
					cmd = strings.ReplaceAll(cmd, shown, real)
				}
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				c := exec.CommandContext(ctx, "sh", "-c", cmd)
				c.Dir = dir
				c.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
				out, err := c.Output()
				cancel()
				if err != nil {
					t.Fatalf("$ %s\n%v\n%s", cmd, err, out)
				}
				if !outputMatches(string(out), step.want, addrs) {
					t.Errorf("$ %s\nprinted:\n%s\nthe README shows:\n%s", cmd, out, strings.Join(step.want, "\n"))
				}
			}
		})
	}

	var scrape map[string]any
	prom := regexp.MustCompile("(?s)A Prometheus job for the config above:\n\n```yaml\n(.*?)```").FindSubmatch(readme)
	if prom == nil || yaml.Unmarshal(prom[1], &scrape) != nil || scrape["scrape_configs"] == nil {
		t.Error("the README's Prometheus job is not YAML with scrape_configs")
	}
}

type consoleStep struct {
	cmd  string
	want []string
}

// consoleSteps splits a console block into commands ("$ ...") and the
// output shown after each.
func consoleSteps(block string) []consoleStep {
	var steps []consoleStep
	for _, line := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
		if cmd, ok := strings.CutPrefix(line, "$ "); ok {
			steps = append(steps, consoleStep{cmd: cmd})
		} else if len(steps) > 0 {
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, line)
		}
	}
	return steps
}

func outputMatches(out string, want []string, addrs map[string]string) bool {
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(want) == 1 && want[0] == "..." {
		return strings.TrimSpace(out) != ""
	}
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		for shown, real := range addrs {
			w = strings.ReplaceAll(w, shown, real)
		}
		if p, ok := strings.CutSuffix(w, "..."); ok {
			if !strings.HasPrefix(got[i], p) {
				return false
			}
		} else if got[i] != w {
			return false
		}
	}
	return true
}

// startREADMEServe starts `junction serve` as the README shows it, on loopback
// ports of its own (port 0), and records the addresses it reports for
// the ones the README shows.
func startREADMEServe(t *testing.T, dir, line string, addrs map[string]string) *exec.Cmd {
	t.Helper()
	args := strings.Fields(strings.TrimPrefix(line, "junction "))
	config := strings.Contains(line, "--config")
	if !config {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	cmd := exec.Command(filepath.Join(dir, "junction"), args...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	var log strings.Builder
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if !strings.Contains(lines.Text(), "junction listening") {
			continue
		}
		listen := regexp.MustCompile(`listen="([^ ]+) `).FindStringSubmatch(lines.Text())
		adm := regexp.MustCompile(`admin="http://([^ ]+) `).FindStringSubmatch(lines.Text())
		if listen == nil || adm == nil {
			t.Fatalf("the start line names no listener or admin address: %s", lines.Text())
		}
		addrs["127.0.0.1:8080"] = listen[1]
		addrs["127.0.0.1:9090"] = adm[1]
		go io.Copy(io.Discard, stderr)
		return cmd
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("%s did not start:\n%s", line, log.String())
	return nil
}

// TestREADMEQuickStart: the line README's Quick start shows `junction
// serve` printing (no config file) is the line it prints, on the port it
// got; "..." there stands for what changes (the time, the build's
// version).
func TestREADMEQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\n## Quick start\n.*?```console\n\\$ go run ./cmd/junction serve\n(.*?)\n```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md's Quick start shows no `go run ./cmd/junction serve` and its output")
	}
	p := startServe(t, "", nil, "--listen", "127.0.0.1:0")
	got := p.waitLog(t, "junction listening")
	want := strings.ReplaceAll(string(m[1]), "127.0.0.1:8080", p.address(t))
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(want), `\.\.\.`, `\S*`) + "$"
	if !regexp.MustCompile(re).MatchString(got) {
		t.Errorf("README.md's Quick start shows\n%s\nbut serve logs\n%s", want, got)
	}
}
