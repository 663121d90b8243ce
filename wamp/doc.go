// Package wamp defines the messages of the Web Application Messaging Protocol
// (WAMP v2): their type codes and fields, IDs and their scopes, URIs and the
// checks the specification gives for them, and the error and close URIs.
//
// It does no I/O and knows no serializer. A message's application payload
// (Arguments|list and ArgumentsKw|dict) is a Payload, which a router carries in
// the encoding it arrived in so that it is decoded only when a receiver uses a
// different serializer (see package wamp/codec).
package wamp
