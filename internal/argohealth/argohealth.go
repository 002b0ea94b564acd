// Package argohealth runs the Argo CD health checks of this project's kinds
// (charts/inboxchat-operator/docs/health/<group>/<Kind>/health.lua) the way
// Argo CD runs a resource.customizations.health script, so that tests can
// drive them with real objects: the object as a global table `obj`, only the
// Lua libraries Argo CD opens for custom scripts (package, base and table; no
// string, math, io or os), a one-second limit, and a returned table whose
// status must be one of Argo CD's health codes.
//
// It also renders the argocd-cm keys that install the scripts.
package argohealth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Group is the API group whose kinds have health checks.
const Group = "inboxchat.io"

// Kinds are the kinds that have a health check, in the order the docs list them.
var Kinds = []string{"Tenant", "Broadcast", "ErasureRequest", "PolicyUpdate"}

// Argo CD health codes a script may return.
const (
	Healthy     = "Healthy"
	Progressing = "Progressing"
	Degraded    = "Degraded"
	Suspended   = "Suspended"
	Missing     = "Missing"
	Unknown     = "Unknown"
)

// Health is what a health script returned.
type Health struct {
	Status  string
	Message string
}

// timeout is the limit Argo CD puts on one script run.
const timeout = time.Second

// Evaluate runs a health script against obj, an object as Kubernetes
// unstructured JSON decodes it (maps, slices, strings, bools, int64 and
// float64 numbers).
func Evaluate(script string, obj map[string]any) (Health, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return Health{}, fmt.Errorf("opening Lua library %q: %w", lib.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return Health{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return Health{}, fmt.Errorf("the script returned %s, not a table", l.Get(-1).Type())
	}
	h := Health{}
	for key, dst := range map[string]*string{"status": &h.Status, "message": &h.Message} {
		switch v := ret.RawGetString(key).(type) {
		case lua.LString:
			*dst = string(v)
		case *lua.LNilType:
		default:
			return Health{}, fmt.Errorf("hs.%s is a %s, not a string", key, v.Type())
		}
	}
	switch h.Status {
	case Healthy, Progressing, Degraded, Suspended, Missing, Unknown:
		return h, nil
	}
	return Health{}, fmt.Errorf("hs.status %q is not an Argo CD health status", h.Status)
}

// toLua converts an unstructured value as Argo CD does: maps to tables with
// string keys, slices to arrays (1-based), numbers to Lua numbers.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetString(key, toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

// ScriptPath is where the health check of kind lives under dir (the chart's
// docs/health folder), in Argo CD's own resource_customizations layout.
func ScriptPath(dir, kind string) string {
	return filepath.Join(dir, Group, kind, "health.lua")
}

// LoadScripts reads the health check of every kind under dir.
func LoadScripts(dir string) (map[string]string, error) {
	scripts := map[string]string{}
	for _, kind := range Kinds {
		b, err := os.ReadFile(ScriptPath(dir, kind))
		if err != nil {
			return nil, err
		}
		scripts[kind] = string(b)
	}
	return scripts, nil
}

// ConfigMapKey is the argocd-cm key of kind's health check.
func ConfigMapKey(kind string) string {
	return "resource.customizations.health." + Group + "_" + kind
}

// ArgoCDValues renders values for the argo-cd Helm chart that install the
// health checks: configs.cm holds one argocd-cm key per kind, whose value is
// the script, verbatim, as a literal block.
func ArgoCDValues(scripts map[string]string) string {
	var b strings.Builder
	b.WriteString(`# Argo CD health checks for the InboxChat operator's kinds (inboxchat.io).
# Generated from docs/health/inboxchat.io/<Kind>/health.lua: do not edit here,
# edit a script and run
#   go test ./internal/argohealth -run TestArgoCDValues -update
#
# These are values of the argo-cd Helm chart (configs.cm becomes the argocd-cm
# ConfigMap). Without that chart, copy the keys under configs.cm into the data
# of the argocd-cm ConfigMap in Argo CD's namespace.
configs:
  cm:
`)
	kinds := make([]string, 0, len(scripts))
	for k := range scripts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		fmt.Fprintf(&b, "    %s: |\n", ConfigMapKey(kind))
		for _, line := range strings.Split(strings.TrimRight(scripts[kind], "\n"), "\n") {
			if line == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("      " + line + "\n")
		}
	}
	return b.String()
}
