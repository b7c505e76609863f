//lint:file-ignore SA1019 sampling is deprecated (SEP-2577) but still exercised by the conformance suite.

package everything

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// inBandInputVersion is the first protocol revision in which a server gathers
// client input in-band, by answering with an input_required result
// (SEP-2322), instead of sending server→client requests.
const inBandInputVersion = "2026-07-28"

// versioned is implemented by every *mcp.ServerRequest.
type versioned interface{ ProtocolVersion() string }

// inBand reports whether req follows a protocol revision that gathers client
// input in-band. Under older revisions the server asks the client directly
// (go-sdk also bridges input_required results to direct requests for those
// clients, which the input_required fixtures rely on).
func inBand(req versioned) bool {
	return req.ProtocolVersion() >= inBandInputVersion
}

// capability is a client capability a handler may depend on.
type capability string

const (
	capElicitation capability = "elicitation"
	capSampling    capability = "sampling"
	capRoots       capability = "roots"
)

// declares reports whether caps declares c.
func declares(caps *mcp.ClientCapabilities, c capability) bool {
	if caps == nil {
		return false
	}
	switch c {
	case capElicitation:
		return caps.Elicitation != nil
	case capSampling:
		return caps.Sampling != nil
	case capRoots:
		// Roots is the legacy mirror of RootsV2 (go-sdk issue #607).
		return caps.RootsV2 != nil || caps.Roots.ListChanged
	}
	return false
}

// capabilityHolder is implemented by every *mcp.ServerRequest.
type capabilityHolder interface {
	ClientCapabilities() *mcp.ClientCapabilities
}

// requireCapabilities returns a MissingRequiredClientCapability error (-32021,
// SEP-2575) naming every capability in need that the client behind req did not
// declare, or nil if all are declared.
func requireCapabilities(req capabilityHolder, need ...capability) error {
	caps := req.ClientCapabilities()
	missing := map[string]any{}
	var names []string
	for _, c := range need {
		if !declares(caps, c) {
			missing[string(c)] = map[string]any{}
			names = append(names, string(c))
		}
	}
	if len(names) == 0 {
		return nil
	}
	data, err := json.Marshal(map[string]any{"requiredCapabilities": missing})
	if err != nil {
		return err
	}
	return &jsonrpc.Error{
		Code:    mcp.CodeMissingRequiredClientCapabilities,
		Message: fmt.Sprintf("client did not declare the required capabilities: %s", strings.Join(names, ", ")),
		Data:    data,
	}
}

// needInput returns the input_required tool result asking for requests,
// carrying state (which may be empty) for the retry.
func needInput(requests mcp.InputRequestMap, state string) *mcp.CallToolResult {
	return &mcp.CallToolResult{InputRequests: requests, RequestState: state}
}

// elicitResponse returns the elicitation answer stored under key, if any.
func elicitResponse(responses mcp.InputResponseMap, key string) (*mcp.ElicitResult, bool) {
	r, ok := responses[key].(*mcp.ElicitResult)
	return r, ok && r != nil
}

// acceptedString returns the string field of an accepted elicitation answer
// stored under key. ok is false when the answer is missing, was not accepted,
// or lacks a non-empty string field.
func acceptedString(responses mcp.InputResponseMap, key, field string) (string, bool) {
	r, ok := elicitResponse(responses, key)
	if !ok || r.Action != "accept" {
		return "", false
	}
	v, ok := r.Content[field].(string)
	return v, ok && v != ""
}

// samplingResponse returns the text of the sampling answer stored under key.
// A sampling answer without text content is reported as such rather than
// treated as missing.
func samplingResponse(responses mcp.InputResponseMap, key string) (string, bool) {
	var content []mcp.Content
	switch r := responses[key].(type) {
	case *mcp.CreateMessageWithToolsResult:
		if r == nil {
			return "", false
		}
		content = r.Content
	case *mcp.CreateMessageResult:
		if r == nil {
			return "", false
		}
		content = []mcp.Content{r.Content}
	default:
		return "", false
	}
	return contentText(content), true
}

// rootsResponse returns the roots/list answer stored under key, if any.
func rootsResponse(responses mcp.InputResponseMap, key string) (*mcp.ListRootsResult, bool) {
	r, ok := responses[key].(*mcp.ListRootsResult)
	return r, ok && r != nil
}

// contentText joins the text blocks of content, or describes it when it holds
// no text.
func contentText(content []mcp.Content) string {
	var parts []string
	for _, c := range content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	if len(parts) == 0 {
		return "(no text content)"
	}
	return strings.Join(parts, "\n")
}

// inputRequest is implemented by the *mcp.ServerRequest types of the
// methods that may gather client input (tools/call, prompts/get,
// resources/read).
type inputRequest interface {
	versioned
	capabilityHolder
}

// askElicitation obtains one elicitation answer, using whichever mechanism the
// caller's protocol revision provides.
//
// Under the session-based protocol it sends elicitation/create over session
// and returns the answer. Under the in-band protocol it returns the answer
// found under key in responses, or (nil, nil) when there is none yet: the
// caller must then return an input_required result asking for params under
// key.
func askElicitation(ctx context.Context, req inputRequest, session *mcp.ServerSession, responses mcp.InputResponseMap, key string, params *mcp.ElicitParams) (*mcp.ElicitResult, error) {
	if err := requireCapabilities(req, capElicitation); err != nil {
		return nil, err
	}
	if !inBand(req) {
		res, err := session.Elicit(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("elicitation failed: %w", err)
		}
		return res, nil
	}
	res, _ := elicitResponse(responses, key)
	return res, nil
}

// askSampling obtains the text of one LLM completion; see [askElicitation].
// ok is false when the caller must ask for params under key in-band.
func askSampling(ctx context.Context, req inputRequest, session *mcp.ServerSession, responses mcp.InputResponseMap, key string, params *mcp.CreateMessageParams) (text string, ok bool, err error) {
	if err := requireCapabilities(req, capSampling); err != nil {
		return "", false, err
	}
	if !inBand(req) {
		res, err := session.CreateMessage(ctx, params)
		if err != nil {
			return "", false, fmt.Errorf("sampling failed: %w", err)
		}
		return contentText([]mcp.Content{res.Content}), true, nil
	}
	text, ok = samplingResponse(responses, key)
	return text, ok, nil
}

// elicit is [askElicitation] for tool calls: when the answer must be asked for
// in-band, it returns the pending input_required result for the handler to
// return as is.
func elicit(ctx context.Context, req *mcp.CallToolRequest, key string, params *mcp.ElicitParams) (answer *mcp.ElicitResult, pending *mcp.CallToolResult, err error) {
	answer, err = askElicitation(ctx, req, req.Session, req.Params.InputResponses, key, params)
	if err == nil && answer == nil {
		pending = needInput(mcp.InputRequestMap{key: params}, "")
	}
	return answer, pending, err
}

// sample is [askSampling] for tool calls; see [elicit].
func sample(ctx context.Context, req *mcp.CallToolRequest, key string, params *mcp.CreateMessageParams) (text string, pending *mcp.CallToolResult, err error) {
	text, ok, err := askSampling(ctx, req, req.Session, req.Params.InputResponses, key, params)
	if err == nil && !ok {
		pending = needInput(mcp.InputRequestMap{key: params}, "")
	}
	return text, pending, err
}

// objectSchema returns a flat JSON object schema (the only shape elicitation
// accepts) with the given properties, of which required are mandatory.
func objectSchema(required []string, properties map[string]any) map[string]any {
	s := map[string]any{"type": "object", "properties": properties}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// stringProperty returns a string property schema.
func stringProperty(description string) map[string]any {
	p := map[string]any{"type": "string"}
	if description != "" {
		p["description"] = description
	}
	return p
}

// textResult returns a successful tool result holding one text block.
func textResult(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

// jsonText renders v as compact JSON for inclusion in text content.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}
