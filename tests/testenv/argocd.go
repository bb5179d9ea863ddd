package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	lua "github.com/yuin/gopher-lua"
)

// argocdHealth runs an Argo CD health check (Lua, file `script`) with gopher-lua, the
// interpreter Argo CD embeds, on the object given as JSON on standard input (as `obj`,
// the way Argo CD passes it) and prints "<status>\t<message>" of the table it returns.
func argocdHealth(script string) error {
	source, err := os.ReadFile(script)
	if err != nil {
		return err
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	var object interface{}
	if err := json.Unmarshal(input, &object); err != nil {
		return fmt.Errorf("decoding the object: %w", err)
	}
	state := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer state.Close()
	state.SetGlobal("obj", toLua(state, object))
	if err := state.DoString(string(source)); err != nil {
		return fmt.Errorf("running the health check: %w", err)
	}
	table, ok := state.Get(-1).(*lua.LTable)
	if !ok {
		return fmt.Errorf("the health check returned %s, not a table", state.Get(-1).Type())
	}
	fmt.Printf("%s\t%s\n", lua.LVAsString(table.RawGetString("status")), lua.LVAsString(table.RawGetString("message")))
	return nil
}

// toLua converts decoded JSON to Lua values as Argo CD does: objects and arrays to
// tables (arrays 1-based), numbers, strings and booleans as themselves.
func toLua(state *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case map[string]interface{}:
		table := state.NewTable()
		for key, item := range v {
			table.RawSetString(key, toLua(state, item))
		}
		return table
	case []interface{}:
		table := state.NewTable()
		for _, item := range v {
			table.Append(toLua(state, item))
		}
		return table
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	default:
		return lua.LNil
	}
}
