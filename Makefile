# The targets people guess. `make deps test` is what CI runs (.ci/run).
GO ?= go

.PHONY: run build test test-short bench lint deps fuzz

run:
	$(GO) run ./cmd/junction serve

build:
	$(GO) build -o bin/junction ./cmd/junction

# The lint, then everything, interop with Autobahn|Python and Autobahn|JS
# included, then every benchmark once, so that `make bench` cannot break
# unnoticed. The
# interop suite alone takes two minutes here and three times that on a
# busy machine: the timeout leaves room above go test's default of 10m.
test: lint
	$(GO) test -race -count=1 -timeout 25m ./...
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

# Without the third-party clients (say so explicitly; it is never silent).
test-short:
	JUNCTION_SKIP_INTEROP=1 $(GO) test -race ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./wamp/... ./router/... ./transport/...

# Each fuzz target in turn, for FUZZTIME each (Go fuzzes one target of a
# package at a time); its corpus of seeds runs in every `make test`.
FUZZTIME ?= 1m
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

lint:
	@test -z "$$(gofmt -l .)" || (echo "not gofmt'ed:"; gofmt -l .; exit 1)
	$(GO) vet ./...

# Installs what the tests need on a Debian machine (as root): the same
# script CI runs.
deps:
	bash .ci/deps
