package everything

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// This file holds the multi-round-trip fixtures (SEP-2322). Each handler
// returns an input_required result (InputRequests, optionally RequestState)
// until the retry carries the answers it needs. go-sdk delivers these results
// as is to 2026-07-28 clients and, for tools and prompts, fulfils them with
// real server→client requests for clients of older revisions.

// Input request keys. The conformance suite looks some of them up by name.
const (
	keyUserName    = "user_name"
	keyCapital     = "capital_question"
	keyRoots       = "client_roots"
	keyConfirm     = "confirm"
	keyGreeting    = "greeting"
	keyStep1       = "step1"
	keyStep2       = "step2"
	keyUserContext = "user_context"
)

// Names of the fixtures that mint a requestState; each doubles as the flow
// recorded in the state, so a state is only accepted by the fixture that
// minted it.
const (
	flowRequestState  = "test_input_required_result_request_state"
	flowTamperedState = "test_input_required_result_tampered_state"
	flowMultiple      = "test_input_required_result_multiple_inputs"
	flowMultiRound    = "test_input_required_result_multi_round"
)

// maxRounds bounds the rounds of a flow that re-asks for missing input.
const maxRounds = 10

// nameRequest asks for the user's name.
func nameRequest(message string) *mcp.ElicitParams {
	return &mcp.ElicitParams{
		Message:         message,
		RequestedSchema: objectSchema([]string{"name"}, map[string]any{"name": stringProperty("")}),
	}
}

// confirmRequest asks the user to confirm.
func confirmRequest() *mcp.ElicitParams {
	return &mcp.ElicitParams{
		Message:         "Please confirm",
		RequestedSchema: objectSchema([]string{"ok"}, map[string]any{"ok": map[string]any{"type": "boolean"}}),
	}
}

// promptRequest asks the client's LLM to answer text.
func promptRequest(text string, maxTokens int64) *mcp.CreateMessageParams {
	return &mcp.CreateMessageParams{
		Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}},
		MaxTokens: maxTokens,
	}
}

// declined reports whether the elicitation answer under key exists but was
// declined or cancelled, returning its action.
func declined(responses mcp.InputResponseMap, key string) (string, bool) {
	r, ok := elicitResponse(responses, key)
	if !ok || r.Action == "accept" {
		return "", false
	}
	return r.Action, true
}

func (s *server) inputElicitation(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	if err := requireCapabilities(req, capElicitation); err != nil {
		return nil, nil, err
	}
	responses := req.Params.InputResponses
	if name, ok := acceptedString(responses, keyUserName, "name"); ok {
		return textResult("Hello, %s!", name), nil, nil
	}
	if action, ok := declined(responses, keyUserName); ok {
		return textResult("Hello, stranger! (the name request ended with %q)", action), nil, nil
	}
	// Missing, unrecognised or incomplete answers are asked for again.
	return needInput(mcp.InputRequestMap{keyUserName: nameRequest("What is your name?")}, ""), nil, nil
}

func (s *server) inputSampling(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	if err := requireCapabilities(req, capSampling); err != nil {
		return nil, nil, err
	}
	if text, ok := samplingResponse(req.Params.InputResponses, keyCapital); ok {
		return textResult("Sampling response: %s", text), nil, nil
	}
	return needInput(mcp.InputRequestMap{keyCapital: promptRequest("What is the capital of France?", 100)}, ""), nil, nil
}

func (s *server) inputListRoots(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	if err := requireCapabilities(req, capRoots); err != nil {
		return nil, nil, err
	}
	if res, ok := rootsResponse(req.Params.InputResponses, keyRoots); ok {
		uris := make([]string, 0, len(res.Roots))
		for _, r := range res.Roots {
			if r != nil {
				uris = append(uris, r.URI)
			}
		}
		return textResult("Client exposed %d root(s): %s", len(uris), strings.Join(uris, ", ")), nil, nil
	}
	return needInput(mcp.InputRequestMap{keyRoots: &mcp.ListRootsParams{}}, ""), nil, nil
}

func (s *server) inputRequestState(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	return s.confirmWithState(ctx, req, flowRequestState)
}

func (s *server) inputTamperedState(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	return s.confirmWithState(ctx, req, flowTamperedState)
}

// confirmWithState asks for a confirmation together with a requestState minted
// for flow, and completes only when the retry echoes a valid state. A state
// that fails validation is rejected with an invalid-params error.
func (s *server) confirmWithState(_ context.Context, req *mcp.CallToolRequest, flow string) (*mcp.CallToolResult, any, error) {
	if err := requireCapabilities(req, capElicitation); err != nil {
		return nil, nil, err
	}
	if raw := req.Params.RequestState; raw != "" {
		st, err := decodeState(raw, flow, 1)
		if err != nil {
			return nil, nil, err
		}
		if r, ok := elicitResponse(req.Params.InputResponses, keyConfirm); ok {
			return textResult("state-ok: requestState from step %d verified; confirmation action=%s, content=%s",
				st.Step, r.Action, jsonText(r.Content)), nil, nil
		}
	}
	return needInput(mcp.InputRequestMap{keyConfirm: confirmRequest()}, newState(flow, 1, nil).encode()), nil, nil
}

// inputMultiple asks for a name (elicitation), a greeting (sampling) and the
// client's roots in one round. Answers are kept in the requestState, so a
// retry that answers only some of them is asked only for the rest.
func (s *server) inputMultiple(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	if err := requireCapabilities(req, capElicitation, capSampling, capRoots); err != nil {
		return nil, nil, err
	}
	values := map[string]string{}
	step := 0
	if raw := req.Params.RequestState; raw != "" {
		st, err := decodeState(raw, flowMultiple, maxRounds)
		if err != nil {
			return nil, nil, err
		}
		for k, v := range st.Values {
			values[k] = v
		}
		step = st.Step
	}

	responses := req.Params.InputResponses
	if name, ok := acceptedString(responses, keyUserName, "name"); ok {
		values["name"] = name
	} else if action, ok := declined(responses, keyUserName); ok {
		values["name"] = "(name " + action + ")"
	}
	if text, ok := samplingResponse(responses, keyGreeting); ok {
		values["greeting"] = text
	}
	if res, ok := rootsResponse(responses, keyRoots); ok {
		values["roots"] = strconv.Itoa(len(res.Roots))
	}

	missing := mcp.InputRequestMap{}
	if _, ok := values["name"]; !ok {
		missing[keyUserName] = nameRequest("What is your name?")
	}
	if _, ok := values["greeting"]; !ok {
		missing[keyGreeting] = promptRequest("Generate a greeting", 50)
	}
	if _, ok := values["roots"]; !ok {
		missing[keyRoots] = &mcp.ListRootsParams{}
	}
	if len(missing) == 0 {
		return textResult("%s %s (%s root(s) visible)", values["greeting"], values["name"], values["roots"]), nil, nil
	}
	if step >= maxRounds {
		return nil, nil, invalidState(fmt.Errorf("input still missing after %d rounds", maxRounds))
	}
	return needInput(missing, newState(flowMultiple, step+1, values).encode()), nil, nil
}

// inputMultiRound asks for a name, then (in a second round, with the name in
// the requestState) for a favourite colour, and then completes.
func (s *server) inputMultiRound(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	if err := requireCapabilities(req, capElicitation); err != nil {
		return nil, nil, err
	}
	step1 := func() *mcp.CallToolResult {
		return needInput(mcp.InputRequestMap{keyStep1: nameRequest("Step 1: What is your name?")},
			newState(flowMultiRound, 1, nil).encode())
	}
	raw := req.Params.RequestState
	if raw == "" {
		return step1(), nil, nil
	}
	st, err := decodeState(raw, flowMultiRound, 2)
	if err != nil {
		return nil, nil, err
	}
	responses := req.Params.InputResponses
	switch st.Step {
	case 1:
		if action, ok := declined(responses, keyStep1); ok {
			return textResult("Multi-round flow stopped: step 1 ended with %q", action), nil, nil
		}
		name, ok := acceptedString(responses, keyStep1, "name")
		if !ok {
			return step1(), nil, nil
		}
		return needInput(mcp.InputRequestMap{keyStep2: &mcp.ElicitParams{
			Message:         "Step 2: What is your favorite color?",
			RequestedSchema: objectSchema([]string{"color"}, map[string]any{"color": stringProperty("")}),
		}}, newState(flowMultiRound, 2, map[string]string{"name": name}).encode()), nil, nil
	default: // step 2
		name := st.Values["name"]
		if name == "" {
			return nil, nil, invalidState(fmt.Errorf("step 2 state carries no name"))
		}
		if action, ok := declined(responses, keyStep2); ok {
			return textResult("Multi-round flow stopped: step 2 ended with %q", action), nil, nil
		}
		color, ok := acceptedString(responses, keyStep2, "color")
		if !ok {
			// Ask again, echoing the same state.
			return needInput(mcp.InputRequestMap{keyStep2: &mcp.ElicitParams{
				Message:         "Step 2: What is your favorite color?",
				RequestedSchema: objectSchema([]string{"color"}, map[string]any{"color": stringProperty("")}),
			}}, st.encode()), nil, nil
		}
		return textResult("Multi-round complete: %s likes %s", name, color), nil, nil
	}
}

// inputCapabilities asks only for the kinds of input the client declared
// capabilities for (read from the request's _meta under 2026-07-28, from the
// initialize handshake otherwise).
func (s *server) inputCapabilities(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
	responses := req.Params.InputResponses
	var got []string
	if name, ok := acceptedString(responses, keyUserName, "name"); ok {
		got = append(got, "name="+name)
	}
	if text, ok := samplingResponse(responses, keyGreeting); ok {
		got = append(got, "greeting="+text)
	}
	if res, ok := rootsResponse(responses, keyRoots); ok {
		got = append(got, fmt.Sprintf("roots=%d", len(res.Roots)))
	}
	if len(got) > 0 {
		return textResult("Capability-aware input received: %s", strings.Join(got, ", ")), nil, nil
	}

	caps := req.ClientCapabilities()
	requests := mcp.InputRequestMap{}
	if declares(caps, capElicitation) {
		requests[keyUserName] = nameRequest("What is your name?")
	}
	if declares(caps, capSampling) {
		requests[keyGreeting] = promptRequest("Generate a short greeting", 50)
	}
	if declares(caps, capRoots) {
		requests[keyRoots] = &mcp.ListRootsParams{}
	}
	if len(requests) == 0 {
		return textResult("The client declared no capability that supports input requests; nothing to ask."), nil, nil
	}
	return needInput(requests, ""), nil, nil
}

// inputPrompt is the prompts/get fixture: it asks for context in-band and
// renders a prompt using it.
func (s *server) inputPrompt(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	if err := requireCapabilities(req, capElicitation); err != nil {
		return nil, err
	}
	responses := req.Params.InputResponses
	text := ""
	if c, ok := acceptedString(responses, keyUserContext, "context"); ok {
		text = "Answer using this context: " + c
	} else if action, ok := declined(responses, keyUserContext); ok {
		text = fmt.Sprintf("Answer without extra context (the context request ended with %q).", action)
	}
	if text != "" {
		return &mcp.GetPromptResult{
			Description: "A prompt rendered with elicited context",
			Messages:    []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}},
		}, nil
	}
	return &mcp.GetPromptResult{InputRequests: mcp.InputRequestMap{keyUserContext: &mcp.ElicitParams{
		Message:         "What context should the prompt use?",
		RequestedSchema: objectSchema([]string{"context"}, map[string]any{"context": stringProperty("")}),
	}}}, nil
}
