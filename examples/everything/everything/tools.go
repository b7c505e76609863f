//lint:file-ignore SA1019 logging is deprecated (SEP-2577) but still exercised by the conformance suite.

package everything

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// toolDef is one entry of the tool table.
type toolDef struct {
	tool *mcp.Tool
	add  func(*mcp.Server)
}

// register adds the tool to srv.
func (d toolDef) register(srv *mcp.Server) { d.add(srv) }

// tool builds a table entry for a typed handler. The input schema is inferred
// from In unless t sets one; In = any means "an object with any properties".
func tool[In any](t *mcp.Tool, h mcp.ToolHandlerFor[In, any]) toolDef {
	return toolDef{tool: t, add: func(srv *mcp.Server) { mcp.AddTool(srv, t, h) }}
}

// Names of tools and prompts registered at runtime by the list-change triggers.
const (
	transientToolName   = "test_transient_tool"
	transientPromptName = "test_transient_prompt"
)

// stepDelay spaces the notifications of the logging and progress tools, so
// clients observe them arriving while the call is in flight.
const stepDelay = 50 * time.Millisecond

// tools returns the tool table. See mrtr.go for the input_required fixtures.
func (s *server) tools() []toolDef {
	return []toolDef{
		// Content types.
		tool(&mcp.Tool{Name: "test_simple_text", Description: "Returns a single text content block."}, s.simpleText),
		tool(&mcp.Tool{Name: "test_image_content", Description: "Returns a PNG image content block."}, s.imageContent),
		tool(&mcp.Tool{Name: "test_audio_content", Description: "Returns a WAV audio content block."}, s.audioContent),
		tool(&mcp.Tool{Name: "test_embedded_resource", Description: "Returns an embedded text resource."}, s.embeddedResource),
		tool(&mcp.Tool{Name: "test_multiple_content_types", Description: "Returns text, image and embedded resource content in one result."}, s.multipleContentTypes),

		// Utilities.
		tool(&mcp.Tool{Name: "test_tool_with_logging", Description: "Emits three info-level log notifications while running."}, s.withLogging),
		tool(&mcp.Tool{Name: "test_tool_with_progress", Description: "Reports progress 0, 50 and 100 of 100 for the request's progress token."}, s.withProgress),
		tool(&mcp.Tool{Name: "test_error_handling", Description: "Always fails with a tool execution error (isError: true)."}, s.errorHandling),
		tool(&mcp.Tool{Name: "test_reconnection", Description: "Closes its SSE response stream mid-call and answers after the client reconnects (SEP-1699)."}, s.reconnection),

		// Client features: sampling and elicitation.
		tool(&mcp.Tool{Name: "test_sampling", Description: "Asks the client's LLM to answer the prompt (sampling/createMessage)."}, s.sampling),
		tool(&mcp.Tool{Name: "test_elicitation", Description: "Asks the user for a username and email address (elicitation/create)."}, s.elicitation),
		tool(&mcp.Tool{Name: "test_elicitation_sep1034_defaults", Description: "Elicits primitive fields that all carry default values (SEP-1034)."}, s.elicitationDefaults),
		tool(&mcp.Tool{Name: "test_elicitation_sep1330_enums", Description: "Elicits every enum schema variant: titled/untitled, single/multi-select, legacy enumNames (SEP-1330)."}, s.elicitationEnums),

		// Schemas and headers.
		tool(&mcp.Tool{
			Name:        "json_schema_2020_12_tool",
			Description: "Declares an input schema using JSON Schema 2020-12 keywords ($schema, $defs, $anchor, allOf/anyOf, if/then/else, additionalProperties) (SEP-1613, SEP-2106).",
			InputSchema: json.RawMessage(jsonSchema202012),
		}, s.jsonSchema202012),
		tool(&mcp.Tool{
			Name:        "test_x_mcp_header",
			Description: "Mirrors its region argument into the Mcp-Param-Region HTTP header (SEP-2243).",
			InputSchema: json.RawMessage(xMCPHeaderSchema),
		}, s.xMCPHeader),

		// Stateless protocol diagnostics (SEP-2575).
		tool(&mcp.Tool{Name: "test_missing_capability", Description: "Requires the sampling client capability and fails with -32021 when it is not declared."}, s.missingCapability),
		tool(&mcp.Tool{Name: "test_streaming_elicitation", Description: "Asks for confirmation; under 2026-07-28 the question travels in-band as an input_required result, never as a request on the response stream."}, s.streamingElicitation),
		tool(&mcp.Tool{Name: "test_logging_tool", Description: "Emits one info log message; it is delivered only if the request asked for logging."}, s.loggingTool),

		// Notification triggers.
		tool(&mcp.Tool{Name: "test_trigger_tool_change", Description: "Re-registers " + transientToolName + ", publishing notifications/tools/list_changed."}, s.triggerToolChange),
		tool(&mcp.Tool{Name: "test_trigger_prompt_change", Description: "Re-registers " + transientPromptName + ", publishing notifications/prompts/list_changed."}, s.triggerPromptChange),
		tool(&mcp.Tool{Name: "test_trigger_resource_update", Description: "Bumps the revision of " + watchedURI + " and publishes notifications/resources/updated to its subscribers."}, s.triggerResourceUpdate),

		// Multi-round-trip input (SEP-2322).
		tool(&mcp.Tool{Name: "test_input_required_result_elicitation", Description: "Asks for the caller's name via an in-band elicitation request."}, s.inputElicitation),
		tool(&mcp.Tool{Name: "test_input_required_result_sampling", Description: "Asks for an LLM completion via an in-band sampling request."}, s.inputSampling),
		tool(&mcp.Tool{Name: "test_input_required_result_list_roots", Description: "Asks for the client's roots via an in-band roots/list request."}, s.inputListRoots),
		tool(&mcp.Tool{Name: "test_input_required_result_request_state", Description: "Asks for a confirmation and verifies the requestState echoed on the retry."}, s.inputRequestState),
		tool(&mcp.Tool{Name: "test_input_required_result_multiple_inputs", Description: "Asks for elicitation, sampling and roots input in one round, re-asking only for what is missing."}, s.inputMultiple),
		tool(&mcp.Tool{Name: "test_input_required_result_multi_round", Description: "Runs two elicitation rounds, carrying the first answer in requestState."}, s.inputMultiRound),
		tool(&mcp.Tool{Name: "test_input_required_result_tampered_state", Description: "Rejects a retry whose requestState fails validation."}, s.inputTamperedState),
		tool(&mcp.Tool{Name: "test_input_required_result_capabilities", Description: "Asks only for the kinds of input the client declared capabilities for."}, s.inputCapabilities),
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *server) simpleText(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
	return textResult("This is a simple text response for testing."), nil, nil
}

func (s *server) imageContent(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{
		&mcp.ImageContent{Data: s.png, MIMEType: "image/png"},
	}}, nil, nil
}

func (s *server) audioContent(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{
		&mcp.AudioContent{Data: s.wav, MIMEType: "audio/wav"},
	}}, nil, nil
}

func (s *server) embeddedResource(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{
		&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
			URI:      "test://embedded-resource",
			MIMEType: "text/plain",
			Text:     "This is an embedded resource content.",
		}},
	}}, nil, nil
}

func (s *server) multipleContentTypes(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{
		&mcp.TextContent{Text: "Multiple content types test:"},
		&mcp.ImageContent{Data: s.png, MIMEType: "image/png"},
		&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
			URI:      "test://mixed-content-resource",
			MIMEType: "application/json",
			Text:     `{"test":"data","value":123}`,
		}},
	}}, nil, nil
}

// withLogging sends three log messages, stepDelay apart. Whether they reach
// the client depends on the level it asked for (logging/setLevel, or the
// request's _meta under 2026-07-28).
func (s *server) withLogging(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	messages := []string{"Tool execution started", "Tool processing data", "Tool execution completed"}
	for i, msg := range messages {
		if i > 0 {
			if err := sleep(ctx, stepDelay); err != nil {
				return nil, nil, err
			}
		}
		if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{
			Level:  "info",
			Logger: "test_tool_with_logging",
			Data:   msg,
		}); err != nil {
			return nil, nil, fmt.Errorf("sending log message: %w", err)
		}
	}
	return textResult("Tool with logging executed successfully (%d log messages)", len(messages)), nil, nil
}

// withProgress reports three progress steps for the request's progress token,
// stepDelay apart. Without a token it only waits.
func (s *server) withProgress(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	const total = 100
	steps := []float64{0, 50, 100}
	token := req.Params.GetProgressToken()
	for i, progress := range steps {
		if i > 0 {
			if err := sleep(ctx, stepDelay); err != nil {
				return nil, nil, err
			}
		}
		if token == nil {
			continue
		}
		if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
			ProgressToken: token,
			Progress:      progress,
			Total:         total,
			Message:       fmt.Sprintf("step %d of %d", i+1, len(steps)),
		}); err != nil {
			return nil, nil, fmt.Errorf("sending progress: %w", err)
		}
	}
	if token == nil {
		return textResult("Completed %d steps; no progress token was supplied", len(steps)), nil, nil
	}
	return textResult("Completed %d steps; progress reported for token %v", len(steps), token), nil, nil
}

func (s *server) errorHandling(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
	// A plain error becomes a tool result with isError: true; a *jsonrpc.Error
	// would instead be a protocol error.
	return nil, nil, errors.New("This tool intentionally returns an error for testing")
}

// reconnection closes the SSE stream carrying the call (when the transport
// supports it), asking the client to reconnect, and answers afterwards so the
// result is delivered on the resumed stream.
func (s *server) reconnection(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	const retryAfter = 100 * time.Millisecond
	closed := false
	if req.Extra != nil && req.Extra.CloseSSEStream != nil {
		req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: retryAfter})
		closed = true
	}
	if err := sleep(ctx, 2*retryAfter); err != nil {
		return nil, nil, err
	}
	if !closed {
		return textResult("Reconnection test completed (the transport cannot close the stream, so no reconnection was needed)."), nil, nil
	}
	return textResult("Reconnection test completed: the stream was closed mid-call and this result was delivered after the client reconnected."), nil, nil
}

// samplingArgs is the input of test_sampling.
type samplingArgs struct {
	Prompt string `json:"prompt" jsonschema:"the prompt to send to the LLM"`
}

func (s *server) sampling(ctx context.Context, req *mcp.CallToolRequest, in samplingArgs) (*mcp.CallToolResult, any, error) {
	text, pending, err := sample(ctx, req, "completion", &mcp.CreateMessageParams{
		Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: in.Prompt}}},
		MaxTokens: 100,
	})
	if err != nil || pending != nil {
		return pending, nil, err
	}
	return textResult("LLM response: %s", text), nil, nil
}

// elicitationArgs is the input of test_elicitation.
type elicitationArgs struct {
	Message string `json:"message" jsonschema:"the message to show the user"`
}

func (s *server) elicitation(ctx context.Context, req *mcp.CallToolRequest, in elicitationArgs) (*mcp.CallToolResult, any, error) {
	ans, pending, err := elicit(ctx, req, "user_info", &mcp.ElicitParams{
		Message: in.Message,
		RequestedSchema: objectSchema([]string{"username", "email"}, map[string]any{
			"username": stringProperty("User's response"),
			"email":    stringProperty("User's email address"),
		}),
	})
	if err != nil || pending != nil {
		return pending, nil, err
	}
	return textResult("User response: action=%s, content=%s", ans.Action, jsonText(ans.Content)), nil, nil
}

func (s *server) elicitationDefaults(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	ans, pending, err := elicit(ctx, req, "profile", &mcp.ElicitParams{
		Message: "Please review your profile; every field has a default value.",
		RequestedSchema: objectSchema(nil, map[string]any{
			"name":     map[string]any{"type": "string", "description": "User name", "default": "John Doe"},
			"age":      map[string]any{"type": "integer", "description": "User age", "default": 30},
			"score":    map[string]any{"type": "number", "description": "User score", "default": 95.5},
			"status":   map[string]any{"type": "string", "description": "User status", "enum": []string{"active", "inactive", "pending"}, "default": "active"},
			"verified": map[string]any{"type": "boolean", "description": "Verification status", "default": true},
		}),
	})
	if err != nil || pending != nil {
		return pending, nil, err
	}
	return textResult("Elicitation completed: action=%s, content=%s", ans.Action, jsonText(ans.Content)), nil, nil
}

func (s *server) elicitationEnums(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	titled := func(values ...string) []map[string]any {
		titles := map[string]string{"value1": "First Option", "value2": "Second Option", "value3": "Third Option"}
		var out []map[string]any
		for _, v := range values {
			out = append(out, map[string]any{"const": v, "title": titles[v]})
		}
		return out
	}
	options := []string{"option1", "option2", "option3"}
	ans, pending, err := elicit(ctx, req, "choices", &mcp.ElicitParams{
		Message: "Please pick from each kind of enum.",
		RequestedSchema: objectSchema(nil, map[string]any{
			"untitledSingle": map[string]any{"type": "string", "enum": options},
			"titledSingle":   map[string]any{"type": "string", "oneOf": titled("value1", "value2", "value3")},
			"legacyEnum": map[string]any{
				"type":      "string",
				"enum":      []string{"opt1", "opt2", "opt3"},
				"enumNames": []string{"Option One", "Option Two", "Option Three"},
			},
			"untitledMulti": map[string]any{
				"type": "array", "minItems": 1, "maxItems": 3,
				"items": map[string]any{"type": "string", "enum": options},
			},
			"titledMulti": map[string]any{
				"type": "array", "minItems": 1, "maxItems": 3,
				"items": map[string]any{"anyOf": titled("value1", "value2", "value3")},
			},
		}),
	})
	if err != nil || pending != nil {
		return pending, nil, err
	}
	return textResult("Elicitation completed: action=%s, content=%s", ans.Action, jsonText(ans.Content)), nil, nil
}

// jsonSchema202012 is the input schema of json_schema_2020_12_tool. The
// conformance suite checks that every keyword survives tools/list verbatim.
const jsonSchema202012 = `{
	"$schema": "https://json-schema.org/draft/2020-12/schema",
	"type": "object",
	"$defs": {
		"address": {
			"$anchor": "addressDef",
			"type": "object",
			"properties": {
				"street": {"type": "string"},
				"city": {"type": "string"}
			}
		}
	},
	"properties": {
		"name": {"type": "string"},
		"address": {"$ref": "#/$defs/address"},
		"contactMethod": {"type": "string", "enum": ["phone", "email"]},
		"phone": {"type": "string"},
		"email": {"type": "string"}
	},
	"allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
	"if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
	"then": {"required": ["phone"]},
	"else": {"required": ["email"]},
	"additionalProperties": false
}`

func (s *server) jsonSchema202012(_ context.Context, _ *mcp.CallToolRequest, in map[string]any) (*mcp.CallToolResult, any, error) {
	return textResult("json_schema_2020_12_tool accepted: %s", jsonText(in)), nil, nil
}

// xMCPHeaderSchema is the input schema of test_x_mcp_header: the region
// argument is mirrored into the Mcp-Param-Region header (SEP-2243).
const xMCPHeaderSchema = `{
	"type": "object",
	"properties": {
		"region": {"type": "string", "description": "Deployment region; mirrored into Mcp-Param-Region", "x-mcp-header": "Region"},
		"level": {"type": "integer", "description": "Verbosity level; not mirrored"}
	}
}`

// xMCPHeaderArgs is the input of test_x_mcp_header.
type xMCPHeaderArgs struct {
	Region string `json:"region,omitempty"`
	Level  int    `json:"level,omitempty"`
}

func (s *server) xMCPHeader(_ context.Context, _ *mcp.CallToolRequest, in xMCPHeaderArgs) (*mcp.CallToolResult, any, error) {
	return textResult("region=%s level=%d", in.Region, in.Level), nil, nil
}

func (s *server) missingCapability(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	if err := requireCapabilities(req, capSampling); err != nil {
		return nil, nil, err
	}
	return textResult("The client declared the sampling capability."), nil, nil
}

func (s *server) streamingElicitation(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	ans, pending, err := elicit(ctx, req, "proceed", &mcp.ElicitParams{
		Message: "Proceed with the streamed operation?",
		RequestedSchema: objectSchema([]string{"proceed"}, map[string]any{
			"proceed": map[string]any{"type": "boolean"},
		}),
	})
	if err != nil || pending != nil {
		return pending, nil, err
	}
	return textResult("Streaming elicitation answered: action=%s, content=%s", ans.Action, jsonText(ans.Content)), nil, nil
}

func (s *server) loggingTool(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{
		Level:  "info",
		Logger: "test_logging_tool",
		Data:   "test_logging_tool executed",
	}); err != nil {
		return nil, nil, fmt.Errorf("sending log message: %w", err)
	}
	return textResult("Logged one info message; it is delivered only if the client asked for that level."), nil, nil
}

// triggerToolChange re-registers the transient tool with a new revision,
// which makes the server publish notifications/tools/list_changed; in a
// fleet, on every instance (Options.Broadcast).
func (s *server) triggerToolChange(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	return s.change(ctx, "tools", transientToolName)
}

// triggerPromptChange is the prompt analogue of triggerToolChange.
func (s *server) triggerPromptChange(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	return s.change(ctx, "prompts", transientPromptName)
}

func (s *server) change(ctx context.Context, change, name string) (*mcp.CallToolResult, any, error) {
	if s.broadcast != nil {
		if err := s.broadcast(ctx, change); err != nil {
			return nil, nil, fmt.Errorf("broadcasting %s change: %w", change, err)
		}
		return textResult("notifications/%s/list_changed published on every instance (%s re-registered)", change, name), nil, nil
	}
	rev := s.applyChange(change)
	return textResult("notifications/%s/list_changed published (%s revision %d)", change, name, rev), nil, nil
}

// applyChange re-registers the transient tool ("tools") or prompt
// ("prompts") and returns its new revision; other changes are ignored.
func (s *server) applyChange(change string) int64 {
	switch change {
	case "tools":
		rev := s.toolChanges.Add(1)
		mcp.AddTool(s.mcp, &mcp.Tool{
			Name:        transientToolName,
			Description: fmt.Sprintf("Placeholder registered by test_trigger_tool_change (revision %d).", rev),
		}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
			return textResult("transient tool revision %d", rev), nil, nil
		})
		return rev
	case "prompts":
		rev := s.promptChanges.Add(1)
		s.mcp.AddPrompt(&mcp.Prompt{
			Name:        transientPromptName,
			Description: fmt.Sprintf("Placeholder registered by test_trigger_prompt_change (revision %d).", rev),
		}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{
				{Role: "user", Content: &mcp.TextContent{Text: fmt.Sprintf("transient prompt revision %d", rev)}},
			}}, nil
		})
		return rev
	}
	return 0
}

// triggerResourceUpdate changes the watched resource and tells its
// subscribers, through Options.ResourceUpdated when set.
func (s *server) triggerResourceUpdate(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	rev := s.watchedRevision.Add(1)
	if err := s.publish(ctx, &mcp.ResourceUpdatedNotificationParams{URI: watchedURI}); err != nil {
		return nil, nil, fmt.Errorf("publishing resources/updated: %w", err)
	}
	return textResult("notifications/resources/updated published for %s (revision %d)", watchedURI, rev), nil, nil
}
