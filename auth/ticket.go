package auth

import (
	"context"
	"sync"

	"github.com/junction-wamp/junction/wamp"
)

// Ticket authenticates with ticket: the client sends its ticket in the
// clear in AUTHENTICATE, and the router checks it against the principal's
// stored hash.
type Ticket struct {
	Principals *Principals
}

// dummyTicketHash is checked against when the authid is unknown and no
// principal of the realm has a ticket (else a hash like theirs is: see
// mockParams.ticket).
var dummyTicketHash = sync.OnceValue(func() *PasswordHash {
	h, _ := HashPassword("junction: no such principal", "argon2id")
	return h
})

// Knows reports whether the authid has a ticket.
func (a *Ticket) Knows(req *Request) bool {
	p := a.Principals.Get(req.AuthID)
	return p != nil && p.Ticket != nil
}

// Authenticate sends [CHALLENGE, "ticket", {}] and checks the ticket
// through req.KDF, which may refuse the check or give it up unhashed when
// ctx ends first.
func (a *Ticket) Authenticate(ctx context.Context, req *Request, c Challenger) (*Identity, error) {
	ans, err := c.Challenge(ctx, wamp.Dict{})
	if err != nil {
		return nil, err
	}
	p := a.Principals.Get(req.AuthID)
	ok, err := req.KDF.Verify(ctx, req.remoteAddr(), a.hashFor(p), ans.Signature)
	switch {
	case err != nil:
		return nil, err
	case p == nil || p.Ticket == nil:
		return nil, failed("no principal %q with a ticket", req.AuthID)
	case !ok:
		return nil, failed("wrong ticket for %q", req.AuthID)
	}
	return p.identity(MethodTicket, "static", ticketProof(p.Ticket), nil), nil
}

// hashFor returns the hash a ticket for p is checked against: p's, or,
// when p is nil or has no ticket, a dummy one of the KDF and costs of the
// realm's tickets, so that an unknown authid costs the same time as a
// wrong ticket.
func (a *Ticket) hashFor(p *Principal) *PasswordHash {
	if p != nil && p.Ticket != nil {
		return p.Ticket
	}
	if a.Principals != nil && a.Principals.mock.ticket != nil {
		return a.Principals.mock.ticket
	}
	return dummyTicketHash()
}
