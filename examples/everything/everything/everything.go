// Package everything provides an MCP server that implements every feature the
// official MCP conformance suite exercises in its server scenarios.
//
// The server speaks both protocol eras supported by go-sdk:
//
//   - the session-based revisions (2025-03-26 through 2025-11-25), where the
//     server asks the client for input with server→client requests
//     (elicitation/create, sampling/createMessage, roots/list), and
//   - the sessionless 2026-07-28 revision, where the server gathers input
//     in-band by answering with an input_required result (SEP-2322, "MRTR")
//     that carries inputRequests and an opaque requestState.
//
// Every tool, prompt, resource and resource template is declared in a table
// (see tools.go, prompts.go and resources.go), so the inventory can be read in
// one place. Names are the fixtures the conformance suite looks for.
//
// The requestState values minted here are plaintext JSON (see state.go). A
// deployment that exposes the server to untrusted clients must seal them
// (encrypt and authenticate) in a layer in front of this package; this package
// still validates every requestState it receives and rejects malformed ones
// with a JSON-RPC "invalid params" error.
//
// Note that some of the features exercised here (sampling, roots, logging) are
// deprecated as of protocol version 2026-07-28 (SEP-2577); the conformance
// suite still tests them, so they are implemented.
package everything

import (
	"context"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Default implementation identity, used when [Options] leaves it empty.
const (
	defaultName    = "mcpfleet-everything"
	defaultVersion = "0.1.0"
)

// instructions is returned to clients in the initialize/discover result.
const instructions = `Conformance "everything" server. Tools named test_* exercise one protocol ` +
	`feature each (content types, logging, progress, errors, sampling, elicitation, ` +
	`multi-round-trip input, list-change and resource-update notifications). ` +
	`Resources live under test://, prompts are named test_*.`

// Options configures the server.
type Options struct {
	// ResourceUpdated publishes a resources/updated notification to every subscribed
	// session on every instance. Required for the resources-subscribe scenarios; when nil,
	// the server's own (*mcp.Server).ResourceUpdated is used (one process only).
	ResourceUpdated func(ctx context.Context, params *mcp.ResourceUpdatedNotificationParams) error
	// Broadcast, when set, carries list changes (test_trigger_tool_change,
	// test_trigger_prompt_change) to every instance of a fleet: the trigger
	// tools call Broadcast with the change ("tools" or "prompts") instead of
	// changing this server, and the fleet calls the function New passes to
	// OnChange on every instance, this one included. Each instance's server
	// then notifies its own clients. When nil, changes apply to this
	// server only.
	Broadcast func(ctx context.Context, change string) error
	// OnChange receives the function that applies a broadcast change; see
	// Broadcast.
	OnChange func(apply func(change string))
	// Name/Version of the implementation; defaults "mcpfleet-everything", "0.1.0".
	Name, Version string
}

// New returns a new server exposing the conformance tools, prompts, resources
// and resource templates, together with completion and resource subscription
// support.
//
// Each call returns an independent server; all mutable state (the watched
// resource revision, list-change counters) lives in the returned server.
func New(opts Options) *mcp.Server {
	if opts.Name == "" {
		opts.Name = defaultName
	}
	if opts.Version == "" {
		opts.Version = defaultVersion
	}
	s := &server{
		png: tinyPNG(),
		wav: silentWAV(),
	}
	s.mcp = mcp.NewServer(&mcp.Implementation{
		Name:    opts.Name,
		Title:   "MCP conformance everything server",
		Version: opts.Version,
	}, &mcp.ServerOptions{
		Instructions:       instructions,
		CompletionHandler:  s.complete,
		SubscribeHandler:   s.subscribe,
		UnsubscribeHandler: s.unsubscribe,
	})
	s.publish = opts.ResourceUpdated
	if s.publish == nil {
		s.publish = s.mcp.ResourceUpdated
	}

	s.promptTable = s.prompts()
	s.resourceTable = s.resources()
	s.templateTable = s.templates()

	for _, t := range s.tools() {
		t.register(s.mcp)
	}
	for _, p := range s.promptTable {
		s.mcp.AddPrompt(p.prompt, withRequiredArguments(p.prompt, p.handler))
	}
	for _, r := range s.resourceTable {
		s.mcp.AddResource(r.resource, r.handler)
	}
	for _, t := range s.templateTable {
		s.mcp.AddResourceTemplate(t.template(), t.handler)
	}
	s.broadcast = opts.Broadcast
	if opts.OnChange != nil {
		opts.OnChange(func(change string) { s.applyChange(change) })
	}
	return s.mcp
}

// server holds the state shared by the handlers of one [New] server.
type server struct {
	mcp *mcp.Server
	// publish sends resources/updated notifications (Options.ResourceUpdated,
	// or the server's own ResourceUpdated).
	publish func(context.Context, *mcp.ResourceUpdatedNotificationParams) error
	// broadcast carries list changes to every instance (Options.Broadcast).
	broadcast func(ctx context.Context, change string) error

	// The feature tables, fixed at construction; completion and subscription
	// handlers consult them.
	promptTable   []promptDef
	resourceTable []resourceDef
	templateTable []templateDef

	png []byte // 1x1 PNG served by image content and the binary resource
	wav []byte // short silent WAV served by the audio tool

	// Counters bumped by the trigger tools. They are per process: with several
	// instances, only notifications travel between them (through
	// Options.ResourceUpdated), not these revisions or the transient
	// tool and prompt registered by the list-change triggers.
	watchedRevision atomic.Int64 // test_trigger_resource_update
	toolChanges     atomic.Int64 // test_trigger_tool_change
	promptChanges   atomic.Int64 // test_trigger_prompt_change
}
