package everything

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// stateVersion is the format version of [flowState]. Bump it when the format
// changes incompatibly so that states minted by an older build are rejected
// instead of misread.
const stateVersion = 1

// maxStateLen bounds the size of a requestState this package agrees to parse.
const maxStateLen = 4096

// flowState is the plaintext requestState of a multi-round-trip flow
// (SEP-2322). It is minted by the handler that returns an input_required
// result and comes back, echoed by the client, on the retry.
//
// The state is not protected here: a layer in front of this package is
// expected to seal it. It is still validated strictly on the way back in (see
// [decodeState]), so a malformed, truncated, extended or foreign state is
// rejected rather than silently treated as a fresh call.
type flowState struct {
	// Version is the format version; always [stateVersion].
	Version int `json:"v"`
	// Flow names the tool, prompt or resource that minted the state, so a
	// state cannot be replayed against a different handler.
	Flow string `json:"flow"`
	// Step is the 1-based round the state was minted in.
	Step int `json:"step"`
	// Values carries answers collected in earlier rounds.
	Values map[string]string `json:"values,omitempty"`
}

// newState returns the state for round step of flow.
func newState(flow string, step int, values map[string]string) flowState {
	return flowState{Version: stateVersion, Flow: flow, Step: step, Values: values}
}

// encode returns the wire form of st.
func (st flowState) encode() string {
	b, err := json.Marshal(st)
	if err != nil {
		// A struct of ints and strings always marshals.
		panic("everything: encoding requestState: " + err.Error())
	}
	return string(b)
}

// decodeState parses and validates a requestState received for flow. The state
// must be a single JSON object with exactly the fields of [flowState], the
// current version, the expected flow and a step in [1, maxStep].
//
// Any violation is reported as a JSON-RPC invalid-params error.
func decodeState(raw, flow string, maxStep int) (flowState, error) {
	st, err := parseState(raw)
	if err == nil {
		switch {
		case st.Version != stateVersion:
			err = fmt.Errorf("unsupported version %d", st.Version)
		case st.Flow != flow:
			err = fmt.Errorf("minted by %q, not %q", st.Flow, flow)
		case st.Step < 1 || st.Step > maxStep:
			err = fmt.Errorf("step %d out of range [1, %d]", st.Step, maxStep)
		}
	}
	if err != nil {
		return flowState{}, invalidState(err)
	}
	return st, nil
}

// parseState strictly decodes raw into a flowState: unknown fields and
// trailing data are errors.
func parseState(raw string) (flowState, error) {
	var st flowState
	if len(raw) > maxStateLen {
		return st, fmt.Errorf("longer than %d bytes", maxStateLen)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return st, fmt.Errorf("malformed: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return st, errors.New("malformed: trailing data after JSON object")
	}
	return st, nil
}

// invalidState wraps a requestState validation failure as the JSON-RPC error
// returned to the client.
func invalidState(err error) error {
	return &jsonrpc.Error{
		Code:    jsonrpc.CodeInvalidParams,
		Message: "invalid requestState: " + err.Error(),
	}
}
