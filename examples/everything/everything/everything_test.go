package everything

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Protocol revisions the tests run against: the last session-based one, where
// the server asks the client directly, and the first in-band one (SEP-2322).
const (
	legacyVersion = "2025-11-25"
	inBandVersion = "2026-07-28"
)

var versions = []string{legacyVersion, inBandVersion}

// answers maps elicitation schema properties to the values the test client
// fills in.
var answers = map[string]any{
	"name":     "Ada",
	"username": "ada",
	"email":    "ada@example.com",
	"color":    "teal",
	"ok":       true,
	"proceed":  true,
	"context":  "testing",
	"note":     "remember the milk",
}

// recorder collects the notifications and client-side requests a test client
// observes.
type recorder struct {
	mu        sync.Mutex
	progress  []*mcp.ProgressNotificationParams
	logs      []*mcp.LoggingMessageParams
	updated   []string
	elicits   []string // elicitation messages
	samplings int
	changed   chan string // list-changed notifications, by kind
}

func (r *recorder) snapshot() (progress []*mcp.ProgressNotificationParams, logs []*mcp.LoggingMessageParams, updated []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.progress), slices.Clone(r.logs), slices.Clone(r.updated)
}

// clientOptions returns options for a client that answers every elicitation
// with [answers], every sampling request with an echo, and records
// notifications in rec.
func clientOptions(rec *recorder) *mcp.ClientOptions {
	return &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			rec.mu.Lock()
			rec.elicits = append(rec.elicits, req.Params.Message)
			rec.mu.Unlock()
			var schema struct {
				Properties map[string]any `json:"properties"`
			}
			b, _ := json.Marshal(req.Params.RequestedSchema)
			_ = json.Unmarshal(b, &schema)
			content := map[string]any{}
			for prop := range schema.Properties {
				if v, ok := answers[prop]; ok {
					content[prop] = v
				}
			}
			return &mcp.ElicitResult{Action: "accept", Content: content}, nil
		},
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			rec.mu.Lock()
			rec.samplings++
			rec.mu.Unlock()
			var prompt string
			if len(req.Params.Messages) > 0 {
				if t, ok := req.Params.Messages[0].Content.(*mcp.TextContent); ok {
					prompt = t.Text
				}
			}
			return &mcp.CreateMessageResult{
				Role:    "assistant",
				Model:   "echo-model",
				Content: &mcp.TextContent{Text: "echo: " + prompt},
			}, nil
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			rec.mu.Lock()
			rec.progress = append(rec.progress, req.Params)
			rec.mu.Unlock()
		},
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			rec.mu.Lock()
			rec.logs = append(rec.logs, req.Params)
			rec.mu.Unlock()
		},
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			rec.mu.Lock()
			rec.updated = append(rec.updated, req.Params.URI)
			rec.mu.Unlock()
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case rec.changed <- "tools":
			default:
			}
		},
	}
}

// connect starts a server built with opts and a client speaking version
// connected to it in memory.
func connect(t *testing.T, version string, opts Options) (*mcp.ClientSession, *recorder) {
	t.Helper()
	ctx := context.Background()
	rec := &recorder{changed: make(chan string, 8)}
	ct, st := mcp.NewInMemoryTransports()
	ss, err := New(opts).Connect(ctx, st, nil)
	if err != nil {
		t.Fatalf("server connect: %v", err)
	}
	t.Cleanup(func() { _ = ss.Close() })

	client := mcp.NewClient(&mcp.Implementation{Name: "everything-test", Version: "0"}, clientOptions(rec))
	client.AddRoots(&mcp.Root{URI: "file:///work/project", Name: "project"})
	cs, err := client.Connect(ctx, ct, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("client connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs, rec
}

// text joins the text blocks of a tool result.
func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func TestTools(t *testing.T) {
	tests := []struct {
		name string
		args map[string]any
		// want is a substring of the result text, unless check is set.
		want string
		// wantIsError expects a tool execution error (isError: true).
		wantIsError bool
		// check, if set, verifies the result instead of want.
		check func(*testing.T, *mcp.CallToolResult)
	}{
		{name: "test_simple_text", want: "This is a simple text response for testing."},
		{name: "test_image_content", check: func(t *testing.T, res *mcp.CallToolResult) {
			img, ok := res.Content[0].(*mcp.ImageContent)
			if !ok || img.MIMEType != "image/png" || !strings.HasPrefix(string(img.Data), "\x89PNG") {
				t.Errorf("want a PNG image, got %#v", res.Content[0])
			}
		}},
		{name: "test_audio_content", check: func(t *testing.T, res *mcp.CallToolResult) {
			a, ok := res.Content[0].(*mcp.AudioContent)
			if !ok || a.MIMEType != "audio/wav" || !strings.HasPrefix(string(a.Data), "RIFF") {
				t.Errorf("want a WAV clip, got %#v", res.Content[0])
			}
		}},
		{name: "test_embedded_resource", check: func(t *testing.T, res *mcp.CallToolResult) {
			r, ok := res.Content[0].(*mcp.EmbeddedResource)
			if !ok || r.Resource.URI != "test://embedded-resource" || r.Resource.Text == "" {
				t.Errorf("want an embedded text resource, got %#v", res.Content[0])
			}
		}},
		{name: "test_multiple_content_types", check: func(t *testing.T, res *mcp.CallToolResult) {
			var kinds []string
			for _, c := range res.Content {
				kinds = append(kinds, fmt.Sprintf("%T", c))
			}
			want := []string{"*mcp.TextContent", "*mcp.ImageContent", "*mcp.EmbeddedResource"}
			if !slices.Equal(kinds, want) {
				t.Errorf("content kinds = %v, want %v", kinds, want)
			}
		}},
		{name: "test_error_handling", wantIsError: true, want: "intentionally returns an error"},
		{name: "test_sampling", args: map[string]any{"prompt": "What is 2+2?"}, want: "LLM response: echo: What is 2+2?"},
		{name: "test_elicitation", args: map[string]any{"message": "Who are you?"}, want: `action=accept, content={"email":"ada@example.com","username":"ada"}`},
		{name: "test_elicitation_sep1034_defaults", want: "Elicitation completed: action=accept"},
		{name: "test_elicitation_sep1330_enums", want: "Elicitation completed: action=accept"},
		{name: "test_streaming_elicitation", want: `action=accept, content={"proceed":true}`},
		{name: "test_missing_capability", want: "declared the sampling capability"},
		{name: "json_schema_2020_12_tool", args: map[string]any{"name": "Ada", "email": "ada@example.com"}, want: `accepted: {"email":"ada@example.com","name":"Ada"}`},
		{name: "json_schema_2020_12_tool", args: map[string]any{"name": "Ada"}, wantIsError: true, want: "validating"},
		{name: "test_x_mcp_header", args: map[string]any{"region": "eu-west", "level": 2}, want: "region=eu-west level=2"},
		{name: "test_reconnection", want: "Reconnection test completed"},
		{name: "test_trigger_prompt_change", want: "prompts/list_changed published"},
		{name: "test_input_required_result_elicitation", want: "Hello, Ada!"},
		{name: "test_input_required_result_sampling", want: "Sampling response: echo: What is the capital of France?"},
		{name: "test_input_required_result_list_roots", want: "Client exposed 1 root(s): file:///work/project"},
		{name: "test_input_required_result_request_state", want: "state-ok"},
		{name: "test_input_required_result_tampered_state", want: "state-ok"},
		{name: "test_input_required_result_multiple_inputs", want: "echo: Generate a greeting Ada (1 root(s) visible)"},
		{name: "test_input_required_result_multi_round", want: "Multi-round complete: Ada likes teal"},
		{name: "test_input_required_result_capabilities", want: "name=Ada, greeting=echo: Generate a short greeting, roots=1"},
	}
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			cs, _ := connect(t, version, Options{})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tt.name, Arguments: tt.args})
					if err != nil {
						t.Fatalf("CallTool: %v", err)
					}
					if res.IsError != tt.wantIsError {
						t.Fatalf("IsError = %v, want %v (content: %s)", res.IsError, tt.wantIsError, text(res))
					}
					if tt.check != nil {
						tt.check(t, res)
						return
					}
					if got := text(res); !strings.Contains(got, tt.want) {
						t.Errorf("result = %q, want it to contain %q", got, tt.want)
					}
				})
			}
		})
	}
}

// TestMissingCapability checks that tools needing client input fail with
// -32021 (SEP-2575) when the client did not declare the capability.
func TestMissingCapability(t *testing.T) {
	tests := []struct {
		tool string
		args map[string]any
		want string // capability named in error.data.requiredCapabilities
	}{
		{"test_missing_capability", nil, "sampling"},
		{"test_sampling", map[string]any{"prompt": "p"}, "sampling"},
		{"test_input_required_result_sampling", nil, "sampling"},
		{"test_elicitation", map[string]any{"message": "m"}, "elicitation"},
		{"test_input_required_result_elicitation", nil, "elicitation"},
		{"test_input_required_result_list_roots", nil, "roots"},
		{"test_input_required_result_multiple_inputs", nil, "elicitation"},
	}
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			ct, st := mcp.NewInMemoryTransports()
			ss, err := New(Options{}).Connect(context.Background(), st, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ss.Close()
			// A client without handlers declares no capabilities.
			client := mcp.NewClient(&mcp.Implementation{Name: "bare", Version: "0"}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
			cs, err := client.Connect(context.Background(), ct, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			for _, tt := range tests {
				t.Run(tt.tool, func(t *testing.T) {
					_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args})
					var werr *jsonrpc.Error
					if !errors.As(err, &werr) || werr.Code != mcp.CodeMissingRequiredClientCapabilities {
						t.Fatalf("err = %v, want code %d", err, mcp.CodeMissingRequiredClientCapabilities)
					}
					var data struct {
						RequiredCapabilities map[string]any `json:"requiredCapabilities"`
					}
					if err := json.Unmarshal(werr.Data, &data); err != nil || data.RequiredCapabilities[tt.want] == nil {
						t.Errorf("error data = %s, want requiredCapabilities.%s", werr.Data, tt.want)
					}
				})
			}
		})
	}
}

func TestProgress(t *testing.T) {
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			cs, rec := connect(t, version, Options{})
			params := &mcp.CallToolParams{Name: "test_tool_with_progress"}
			params.SetProgressToken("tok-1")
			res, err := cs.CallTool(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			if got := text(res); !strings.Contains(got, "tok-1") {
				t.Errorf("result = %q, want it to mention the token", got)
			}
			var progress []*mcp.ProgressNotificationParams
			waitFor(t, func() bool { progress, _, _ = rec.snapshot(); return len(progress) >= 3 })
			for i, p := range progress {
				if p.ProgressToken != "tok-1" || p.Total != 100 || (i > 0 && p.Progress < progress[i-1].Progress) {
					t.Errorf("progress[%d] = %+v", i, p)
				}
			}
		})
	}
}

func TestLogging(t *testing.T) {
	want := []string{"Tool execution started", "Tool processing data", "Tool execution completed"}
	tests := []struct {
		version string
		// enable asks for debug logging and returns the call's params.
		enable func(*testing.T, *mcp.ClientSession) *mcp.CallToolParams
	}{
		{legacyVersion, func(t *testing.T, cs *mcp.ClientSession) *mcp.CallToolParams {
			// The level is session state, set with logging/setLevel.
			if err := cs.SetLoggingLevel(context.Background(), &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
				t.Fatal(err)
			}
			return &mcp.CallToolParams{Name: "test_tool_with_logging"}
		}},
		{inBandVersion, func(*testing.T, *mcp.ClientSession) *mcp.CallToolParams {
			// The level travels with each request.
			return &mcp.CallToolParams{Name: "test_tool_with_logging", Meta: mcp.Meta{mcp.MetaKeyLogLevel: "debug"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			cs, rec := connect(t, tt.version, Options{})
			if _, err := cs.CallTool(context.Background(), tt.enable(t, cs)); err != nil {
				t.Fatal(err)
			}
			var logs []*mcp.LoggingMessageParams
			waitFor(t, func() bool { _, logs, _ = rec.snapshot(); return len(logs) >= 3 })
			var got []string
			for _, l := range logs {
				got = append(got, fmt.Sprint(l.Data))
			}
			if !slices.Equal(got, want) {
				t.Errorf("log messages = %q, want %q", got, want)
			}
		})
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before deadline")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestResources(t *testing.T) {
	tests := []struct {
		uri      string
		wantMIME string
		want     string // substring of the text, or "" for a blob
		wantCode int64  // JSON-RPC error code, if an error is expected
	}{
		{uri: "test://static-text", wantMIME: "text/plain", want: "static text resource"},
		{uri: "test://static-binary", wantMIME: "image/png"},
		{uri: "test://watched-resource", wantMIME: "text/plain", want: "revision 0"},
		{uri: "test://template/123/data", wantMIME: "application/json", want: `{"id":"123","templateTest":true,"data":"Data for ID: 123"}`},
		{uri: "test://notes/cats", wantMIME: "text/plain", want: "Note about cats: remember the milk"},
		{uri: "test://nonexistent", wantCode: jsonrpc.CodeInvalidParams},
		{uri: "test://template/1/2/data", wantCode: jsonrpc.CodeInvalidParams},
	}
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			cs, _ := connect(t, version, Options{})
			for _, tt := range tests {
				t.Run(tt.uri, func(t *testing.T) {
					res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: tt.uri})
					if tt.wantCode != 0 {
						var werr *jsonrpc.Error
						if !errors.As(err, &werr) || werr.Code != tt.wantCode {
							t.Fatalf("err = %v, want code %d", err, tt.wantCode)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					c := res.Contents[0]
					if c.URI != tt.uri || c.MIMEType != tt.wantMIME {
						t.Errorf("contents = {URI: %q, MIMEType: %q}, want {%q, %q}", c.URI, c.MIMEType, tt.uri, tt.wantMIME)
					}
					if tt.want == "" && len(c.Blob) == 0 {
						t.Error("want a blob")
					}
					if !strings.Contains(c.Text, tt.want) {
						t.Errorf("text = %q, want it to contain %q", c.Text, tt.want)
					}
				})
			}
		})
	}
}

func TestSubscribe(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		// Without Options.ResourceUpdated the server notifies its own sessions.
		cs, rec := connect(t, legacyVersion, Options{})
		ctx := context.Background()
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: watchedURI}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_trigger_resource_update"}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { _, _, updated := rec.snapshot(); return slices.Contains(updated, watchedURI) })
		res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: watchedURI})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Contents[0].Text; !strings.Contains(got, "revision 1") {
			t.Errorf("after update, text = %q", got)
		}
		if err := cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: watchedURI}); err != nil {
			t.Fatal(err)
		}
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://unknown"}); err == nil {
			t.Error("subscribing to an unknown resource succeeded")
		}
	})
	t.Run("publisher", func(t *testing.T) {
		// Options.ResourceUpdated replaces the server's own notification.
		var mu sync.Mutex
		var published []string
		cs, _ := connect(t, legacyVersion, Options{
			ResourceUpdated: func(_ context.Context, p *mcp.ResourceUpdatedNotificationParams) error {
				mu.Lock()
				defer mu.Unlock()
				published = append(published, p.URI)
				return nil
			},
		})
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "test_trigger_resource_update"}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(published, []string{watchedURI}) {
			t.Errorf("published = %v, want [%s]", published, watchedURI)
		}
	})
}

func TestToolListChanged(t *testing.T) {
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			cs, rec := connect(t, version, Options{})
			ctx := context.Background()
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_trigger_tool_change"}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-rec.changed:
			case <-time.After(5 * time.Second):
				t.Fatal("no notifications/tools/list_changed")
			}
			var names []string
			for tool, err := range cs.Tools(ctx, nil) {
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, tool.Name)
			}
			if !slices.Contains(names, transientToolName) {
				t.Errorf("tools/list = %v, want it to include %s", names, transientToolName)
			}
		})
	}
}

func TestPrompts(t *testing.T) {
	tests := []struct {
		name     string
		args     map[string]string
		want     string // substring of the JSON-encoded messages
		wantCode int64
	}{
		{name: "test_simple_prompt", want: "This is a simple prompt for testing."},
		{name: "test_prompt_with_arguments", args: map[string]string{"arg1": "hello", "arg2": "world"}, want: "arg1='hello', arg2='world'"},
		{name: "test_prompt_with_arguments", args: map[string]string{"arg1": "hello"}, wantCode: jsonrpc.CodeInvalidParams},
		{name: "test_prompt_with_embedded_resource", args: map[string]string{"resourceUri": "test://example"}, want: `"uri":"test://example"`},
		{name: "test_prompt_with_image", want: `"type":"image"`},
		{name: "test_input_required_result_prompt", want: "Answer using this context: testing"},
		{name: "no_such_prompt", wantCode: jsonrpc.CodeInvalidParams},
	}
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			cs, _ := connect(t, version, Options{})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					res, err := cs.GetPrompt(context.Background(), &mcp.GetPromptParams{Name: tt.name, Arguments: tt.args})
					if tt.wantCode != 0 {
						var werr *jsonrpc.Error
						if !errors.As(err, &werr) || werr.Code != tt.wantCode {
							t.Fatalf("err = %v, want code %d", err, tt.wantCode)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					b, _ := json.Marshal(res.Messages)
					if !strings.Contains(string(b), tt.want) {
						t.Errorf("messages = %s, want them to contain %q", b, tt.want)
					}
				})
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	tests := []struct {
		name     string
		ref      *mcp.CompleteReference
		arg      mcp.CompleteParamsArgument
		want     []string
		wantCode int64
	}{
		{"prompt argument", &mcp.CompleteReference{Type: "ref/prompt", Name: "test_prompt_with_arguments"}, mcp.CompleteParamsArgument{Name: "arg1", Value: "pa"}, []string{"paris", "park", "party"}, 0},
		{"case-insensitive", &mcp.CompleteReference{Type: "ref/prompt", Name: "test_prompt_with_arguments"}, mcp.CompleteParamsArgument{Name: "arg2", Value: "WO"}, []string{"world", "wonder"}, 0},
		{"no candidates", &mcp.CompleteReference{Type: "ref/prompt", Name: "test_simple_prompt"}, mcp.CompleteParamsArgument{Name: "x", Value: ""}, []string{}, 0},
		{"template variable", &mcp.CompleteReference{Type: "ref/resource", URI: "test://template/{id}/data"}, mcp.CompleteParamsArgument{Name: "id", Value: "1"}, []string{"1", "123"}, 0},
		{"unknown prompt", &mcp.CompleteReference{Type: "ref/prompt", Name: "nope"}, mcp.CompleteParamsArgument{Name: "a"}, nil, jsonrpc.CodeInvalidParams},
		{"unknown template", &mcp.CompleteReference{Type: "ref/resource", URI: "test://nope/{x}"}, mcp.CompleteParamsArgument{Name: "x"}, nil, jsonrpc.CodeInvalidParams},
	}
	cs, _ := connect(t, legacyVersion, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := cs.Complete(context.Background(), &mcp.CompleteParams{Ref: tt.ref, Argument: tt.arg})
			if tt.wantCode != 0 {
				var werr *jsonrpc.Error
				if !errors.As(err, &werr) || werr.Code != tt.wantCode {
					t.Fatalf("err = %v, want code %d", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Completion.Values, tt.want) || res.Completion.Total != len(tt.want) {
				t.Errorf("completion = %+v, want values %v", res.Completion, tt.want)
			}
		})
	}
}

// TestInputRequired drives the multi-round-trip fixtures by hand, as a
// 2026-07-28 client that does not fulfil input requests automatically.
func TestInputRequired(t *testing.T) {
	ct, st := mcp.NewInMemoryTransports()
	ss, err := New(Options{}).Connect(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	client := mcp.NewClient(&mcp.Implementation{Name: "manual", Version: "0"}, &mcp.ClientOptions{
		MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true},
		Capabilities: &mcp.ClientCapabilities{
			Elicitation: &mcp.ElicitationCapabilities{},
			Sampling:    &mcp.SamplingCapabilities{},
			RootsV2:     &mcp.RootCapabilities{},
		},
	})
	cs, err := client.Connect(context.Background(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	call := func(t *testing.T, p *mcp.CallToolParams) (*mcp.CallToolResult, error) {
		t.Helper()
		return cs.CallTool(context.Background(), p)
	}
	accept := func(content map[string]any) *mcp.ElicitResult {
		return &mcp.ElicitResult{Action: "accept", Content: content}
	}

	t.Run("multi-round", func(t *testing.T) {
		const tool = "test_input_required_result_multi_round"
		r1, err := call(t, &mcp.CallToolParams{Name: tool})
		if err != nil || !r1.NeedsInput() || r1.InputRequests[keyStep1] == nil || r1.RequestState == "" {
			t.Fatalf("round 1 = %+v, %v; want input_required for %s with state", r1, err, keyStep1)
		}
		r2, err := call(t, &mcp.CallToolParams{Name: tool, RequestState: r1.RequestState,
			InputResponses: mcp.InputResponseMap{keyStep1: accept(map[string]any{"name": "Ada"})}})
		if err != nil || !r2.NeedsInput() || r2.InputRequests[keyStep2] == nil || r2.RequestState == r1.RequestState {
			t.Fatalf("round 2 = %+v, %v; want input_required for %s with a new state", r2, err, keyStep2)
		}
		r3, err := call(t, &mcp.CallToolParams{Name: tool, RequestState: r2.RequestState,
			InputResponses: mcp.InputResponseMap{keyStep2: accept(map[string]any{"color": "teal"})}})
		if err != nil || r3.NeedsInput() || text(r3) != "Multi-round complete: Ada likes teal" {
			t.Fatalf("round 3 = %+v, %v", r3, err)
		}
	})

	t.Run("partial answers are kept", func(t *testing.T) {
		const tool = "test_input_required_result_multiple_inputs"
		r1, err := call(t, &mcp.CallToolParams{Name: tool})
		if err != nil || len(r1.InputRequests) != 3 {
			t.Fatalf("round 1 = %+v, %v; want three input requests", r1, err)
		}
		r2, err := call(t, &mcp.CallToolParams{Name: tool, RequestState: r1.RequestState,
			InputResponses: mcp.InputResponseMap{keyUserName: accept(map[string]any{"name": "Ada"})}})
		if err != nil || len(r2.InputRequests) != 2 || r2.InputRequests[keyUserName] != nil {
			t.Fatalf("round 2 = %+v, %v; want only the two unanswered requests", r2, err)
		}
		r3, err := call(t, &mcp.CallToolParams{Name: tool, RequestState: r2.RequestState,
			InputResponses: mcp.InputResponseMap{
				keyGreeting: &mcp.CreateMessageWithToolsResult{Role: "assistant", Model: "m", Content: []mcp.Content{&mcp.TextContent{Text: "Hi"}}},
				keyRoots:    &mcp.ListRootsResult{Roots: []*mcp.Root{}},
			}})
		if err != nil || text(r3) != "Hi Ada (0 root(s) visible)" {
			t.Fatalf("round 3 = %+v, %v", r3, err)
		}
	})

	t.Run("invalid state is rejected", func(t *testing.T) {
		const tool = "test_input_required_result_tampered_state"
		r1, err := call(t, &mcp.CallToolParams{Name: tool})
		if err != nil || r1.RequestState == "" {
			t.Fatalf("round 1 = %+v, %v", r1, err)
		}
		confirm := mcp.InputResponseMap{keyConfirm: accept(map[string]any{"ok": true})}
		for _, state := range []string{
			r1.RequestState + "-TAMPERED",
			strings.Replace(r1.RequestState, flowTamperedState, flowRequestState, 1),
			"not json",
		} {
			_, err := call(t, &mcp.CallToolParams{Name: tool, RequestState: state, InputResponses: confirm})
			var werr *jsonrpc.Error
			if !errors.As(err, &werr) || werr.Code != jsonrpc.CodeInvalidParams || !strings.Contains(werr.Message, "invalid requestState") {
				t.Errorf("state %q: err = %v, want invalid requestState", state, err)
			}
		}
		r2, err := call(t, &mcp.CallToolParams{Name: tool, RequestState: r1.RequestState, InputResponses: confirm})
		if err != nil || !strings.HasPrefix(text(r2), "state-ok") {
			t.Errorf("valid state: %+v, %v", r2, err)
		}
	})

	t.Run("unrecognised answers are asked again", func(t *testing.T) {
		res, err := call(t, &mcp.CallToolParams{Name: "test_input_required_result_elicitation",
			InputResponses: mcp.InputResponseMap{"wrong_key": accept(map[string]any{"data": "x"})}})
		if err != nil || !res.NeedsInput() || res.InputRequests[keyUserName] == nil {
			t.Errorf("got %+v, %v; want a fresh input request", res, err)
		}
	})
}

func TestDecodeState(t *testing.T) {
	valid := newState(flowMultiRound, 2, map[string]string{"name": "Ada"}).encode()
	tests := []struct {
		name    string
		raw     string
		wantErr string // substring; "" means valid
	}{
		{"valid", valid, ""},
		{"trailing data", valid + "-TAMPERED", "trailing data"},
		{"truncated", valid[:len(valid)-1], "malformed"},
		{"unknown field", `{"v":1,"flow":"` + flowMultiRound + `","step":1,"admin":true}`, "unknown field"},
		{"wrong version", `{"v":2,"flow":"` + flowMultiRound + `","step":1}`, "unsupported version"},
		{"foreign flow", newState(flowMultiple, 1, nil).encode(), "minted by"},
		{"step too large", newState(flowMultiRound, 3, nil).encode(), "out of range"},
		{"step zero", newState(flowMultiRound, 0, nil).encode(), "out of range"},
		{"null", "null", "unsupported version"},
		{"too long", strings.Repeat(" ", maxStateLen+1), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := decodeState(tt.raw, flowMultiRound, 2)
			if tt.wantErr == "" {
				if err != nil || st.Values["name"] != "Ada" {
					t.Fatalf("decodeState = %+v, %v", st, err)
				}
				return
			}
			var werr *jsonrpc.Error
			if !errors.As(err, &werr) || werr.Code != jsonrpc.CodeInvalidParams || !strings.Contains(werr.Message, tt.wantErr) {
				t.Errorf("err = %v, want invalid params mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// TestInventory checks that every table entry is listed, with the metadata
// the conformance suite requires.
func TestInventory(t *testing.T) {
	s := &server{}
	cs, _ := connect(t, inBandVersion, Options{})
	ctx := context.Background()

	listed := map[string]*mcp.Tool{}
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		listed[tool.Name] = tool
	}
	for _, d := range s.tools() {
		got, ok := listed[d.tool.Name]
		if !ok {
			t.Errorf("tool %s not listed", d.tool.Name)
			continue
		}
		if got.Description == "" || got.InputSchema == nil {
			t.Errorf("tool %s lacks a description or input schema", got.Name)
		}
	}
	if len(listed) != len(s.tools()) {
		t.Errorf("listed %d tools, table has %d", len(listed), len(s.tools()))
	}

	var prompts []string
	for p, err := range cs.Prompts(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if p.Description == "" {
			t.Errorf("prompt %s lacks a description", p.Name)
		}
		prompts = append(prompts, p.Name)
	}
	for _, d := range s.prompts() {
		if !slices.Contains(prompts, d.prompt.Name) {
			t.Errorf("prompt %s not listed", d.prompt.Name)
		}
	}

	var resources []string
	for r, err := range cs.Resources(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		resources = append(resources, r.URI)
	}
	for _, d := range s.resources() {
		if !slices.Contains(resources, d.resource.URI) {
			t.Errorf("resource %s not listed", d.resource.URI)
		}
	}

	var templates []string
	for rt, err := range cs.ResourceTemplates(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		templates = append(templates, rt.URITemplate)
	}
	for _, d := range s.templates() {
		if !slices.Contains(templates, d.uriTemplate()) {
			t.Errorf("template %s not listed", d.uriTemplate())
		}
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		opts                  Options
		wantName, wantVersion string
	}{
		{Options{}, "mcpfleet-everything", "0.1.0"},
		{Options{Name: "custom", Version: "9.9.9"}, "custom", "9.9.9"},
	}
	for _, tt := range tests {
		cs, _ := connect(t, legacyVersion, tt.opts)
		info := cs.InitializeResult().ServerInfo
		if info.Name != tt.wantName || info.Version != tt.wantVersion {
			t.Errorf("server info = %s %s, want %s %s", info.Name, info.Version, tt.wantName, tt.wantVersion)
		}
	}
}
