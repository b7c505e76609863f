package everything

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// URIs of the direct resources.
const (
	staticTextURI   = "test://static-text"
	staticBinaryURI = "test://static-binary"
	watchedURI      = "test://watched-resource"
)

// resourceDef is one entry of the direct resource table.
type resourceDef struct {
	resource *mcp.Resource
	handler  mcp.ResourceHandler
}

// resources returns the direct resource table.
func (s *server) resources() []resourceDef {
	return []resourceDef{
		{
			resource: &mcp.Resource{
				URI:         staticTextURI,
				Name:        "static-text",
				Title:       "Static text",
				Description: "A fixed plain-text resource.",
				MIMEType:    "text/plain",
			},
			handler: textResource("This is the content of the static text resource."),
		},
		{
			resource: &mcp.Resource{
				URI:         staticBinaryURI,
				Name:        "static-binary",
				Title:       "Static binary",
				Description: "A fixed binary resource (a 1x1 PNG image).",
				MIMEType:    "image/png",
			},
			handler: s.binaryResource,
		},
		{
			resource: &mcp.Resource{
				URI:         watchedURI,
				Name:        "watched-resource",
				Title:       "Watched resource",
				Description: "A subscribable resource; test_trigger_resource_update changes it and notifies subscribers.",
				MIMEType:    "text/plain",
			},
			handler: s.watchedResource,
		},
	}
}

// templateDef is one entry of the resource template table. Its URI template
// has a single variable: prefix + "{" + param + "}" + suffix.
type templateDef struct {
	name, title, description, mimeType string
	prefix, param, suffix              string
	// completions lists candidate values of param for completion/complete.
	completions []string
	// read serves a URI matching the template; value is the variable's value.
	read func(ctx context.Context, req *mcp.ReadResourceRequest, value string) (*mcp.ReadResourceResult, error)
}

// templates returns the resource template table.
func (s *server) templates() []templateDef {
	return []templateDef{
		{
			name:        "template",
			title:       "Templated data",
			description: "JSON data for an ID, substituted from the URI.",
			mimeType:    "application/json",
			prefix:      "test://template/", param: "id", suffix: "/data",
			completions: []string{"1", "2", "3", "42", "123"},
			read:        templateData,
		},
		{
			name:        "note",
			title:       "Elicited note",
			description: "A note about a topic, written by the user when read (asks for input; SEP-2322 under 2026-07-28).",
			mimeType:    "text/plain",
			prefix:      "test://notes/", param: "topic",
			completions: []string{"cats", "dogs", "weather"},
			read:        s.noteResource,
		},
	}
}

// uriTemplate returns the RFC 6570 URI template of t.
func (t templateDef) uriTemplate() string {
	return t.prefix + "{" + t.param + "}" + t.suffix
}

// template returns the MCP resource template of t.
func (t templateDef) template() *mcp.ResourceTemplate {
	return &mcp.ResourceTemplate{
		URITemplate: t.uriTemplate(),
		Name:        t.name,
		Title:       t.title,
		Description: t.description,
		MIMEType:    t.mimeType,
	}
}

// match returns the value of t's variable in uri, if uri matches t. Like a
// simple RFC 6570 expansion, the value is non-empty and holds no reserved
// delimiter.
func (t templateDef) match(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, t.prefix)
	if !ok {
		return "", false
	}
	value, ok := strings.CutSuffix(rest, t.suffix)
	if !ok || value == "" || strings.ContainsAny(value, "/?#") {
		return "", false
	}
	return value, true
}

// handler returns the resources/read handler of t.
func (t templateDef) handler(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	value, ok := t.match(req.Params.URI)
	if !ok {
		return nil, mcp.ResourceNotFoundError(req.Params.URI)
	}
	return t.read(ctx, req, value)
}

// serves reports whether uri names one of the server's resources, directly or
// through a template.
func (s *server) serves(uri string) bool {
	for _, r := range s.resourceTable {
		if r.resource.URI == uri {
			return true
		}
	}
	for _, t := range s.templateTable {
		if _, ok := t.match(uri); ok {
			return true
		}
	}
	return false
}

// textResource serves a fixed text.
func textResource(text string) mcp.ResourceHandler {
	return func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{
			{URI: req.Params.URI, MIMEType: "text/plain", Text: text},
		}}, nil
	}
}

func (s *server) binaryResource(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{
		{URI: req.Params.URI, MIMEType: "image/png", Blob: s.png},
	}}, nil
}

func (s *server) watchedResource(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
		URI:      req.Params.URI,
		MIMEType: "text/plain",
		Text:     fmt.Sprintf("Watched resource content (revision %d)", s.watchedRevision.Load()),
	}}}, nil
}

// templateData serves test://template/{id}/data.
func templateData(_ context.Context, req *mcp.ReadResourceRequest, id string) (*mcp.ReadResourceResult, error) {
	body, err := json.Marshal(struct {
		ID           string `json:"id"`
		TemplateTest bool   `json:"templateTest"`
		Data         string `json:"data"`
	}{id, true, "Data for ID: " + id})
	if err != nil {
		return nil, err
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{
		{URI: req.Params.URI, MIMEType: "application/json", Text: string(body)},
	}}, nil
}

// noteResource serves test://notes/{topic}: it asks the user what the note
// should say.
//
// It asks directly (elicitation/create) under the session-based protocol
// rather than relying on go-sdk to bridge an input_required result: go-sdk
// v1.8.0 rejects a resources/read result without contents before its bridge
// sees it.
func (s *server) noteResource(ctx context.Context, req *mcp.ReadResourceRequest, topic string) (*mcp.ReadResourceResult, error) {
	const key = "note"
	params := &mcp.ElicitParams{
		Message:         fmt.Sprintf("What should the note about %q say?", topic),
		RequestedSchema: objectSchema([]string{"note"}, map[string]any{"note": stringProperty("The note text")}),
	}
	ans, err := askElicitation(ctx, req, req.Session, req.Params.InputResponses, key, params)
	if err != nil {
		return nil, err
	}
	// The note is the user's own answer: never share it through caches.
	private := mcp.Cacheable{CacheScope: "private"}
	if ans == nil {
		return &mcp.ReadResourceResult{Cacheable: private, InputRequests: mcp.InputRequestMap{key: params}}, nil
	}
	text := fmt.Sprintf("No note about %s (the request ended with %q).", topic, ans.Action)
	if note, ok := ans.Content["note"].(string); ok && ans.Action == "accept" {
		text = fmt.Sprintf("Note about %s: %s", topic, note)
	}
	return &mcp.ReadResourceResult{Cacheable: private, Contents: []*mcp.ResourceContents{
		{URI: req.Params.URI, MIMEType: "text/plain", Text: text},
	}}, nil
}

// subscribe accepts subscriptions to any resource the server serves. The
// subscription itself is tracked by go-sdk (or by the layer behind
// Options.ResourceUpdated).
func (s *server) subscribe(_ context.Context, req *mcp.SubscribeRequest) error {
	if !s.serves(req.Params.URI) {
		return mcp.ResourceNotFoundError(req.Params.URI)
	}
	return nil
}

// unsubscribe accepts every unsubscription; unsubscribing from something
// never subscribed to is harmless.
func (s *server) unsubscribe(context.Context, *mcp.UnsubscribeRequest) error {
	return nil
}
