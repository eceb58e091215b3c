// Command render is a small stand-in for `helm template`, used by the chart test because no
// helm binary exists on the build machines. It reproduces the parts of Helm's engine the
// certctl chart relies on, with the same libraries Helm uses:
//
//   - values: the chart's values.yaml coalesced with -f files (later files win; null deletes
//     a key), decoded the way Helm does (YAML -> JSON, so numbers are float64);
//   - functions: sprig's text function map minus env/expandenv, plus Helm's toYaml, fromYaml,
//     toJson, fromJson, include, tpl, required, and lookup (which, as under `helm template`,
//     finds nothing);
//   - objects: .Values, .Release, .Chart (Chart.yaml fields), .Capabilities, .Template;
//   - output: every non-partial template under templates/, hooks included, as YAML documents
//     headed by `# Source: <chart>/templates/<file>`; "<no value>" becomes "" as in Helm.
//
// Usage: render -chart DIR [-f values.yaml]... [-name RELEASE] [-namespace NS]
//
//	[-api-versions a/v1,b/v1] [-notes] [-dump-values]
//
// Exit status 1 with Helm's message format on a template error (required, fail, ...).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/ghodss/yaml"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// APIVersions mirrors chartutil.VersionSet: a list with a Has method templates can call.
type APIVersions []string

func (v APIVersions) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type KubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions APIVersions
}

func main() {
	chartDir := flag.String("chart", "", "chart directory")
	name := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	apiVersions := flag.String("api-versions", "", "extra API versions for .Capabilities.APIVersions")
	notes := flag.Bool("notes", false, "render templates/NOTES.txt instead of the manifests")
	dumpValues := flag.Bool("dump-values", false, "print the coalesced values as JSON and exit")
	var valueFiles multiFlag
	flag.Var(&valueFiles, "f", "values file (repeatable; later files win)")
	flag.Parse()
	if *chartDir == "" {
		fatal(errors.New("-chart is required"))
	}

	chart, err := readChart(*chartDir)
	if err != nil {
		fatal(err)
	}
	values, err := readYAMLMap(filepath.Join(*chartDir, "values.yaml"))
	if err != nil {
		fatal(err)
	}
	for _, f := range valueFiles {
		override, err := readYAMLMap(f)
		if err != nil {
			fatal(err)
		}
		values = coalesce(values, override)
	}
	if *dumpValues {
		out, _ := json.Marshal(values)
		fmt.Println(string(out))
		return
	}

	caps := Capabilities{
		KubeVersion: KubeVersion{Version: "v1.30.0", Major: "1", Minor: "30", GitVersion: "v1.30.0"},
		APIVersions: defaultAPIVersions(),
	}
	if *apiVersions != "" {
		caps.APIVersions = append(caps.APIVersions, strings.Split(*apiVersions, ",")...)
	}
	top := map[string]interface{}{
		"Values": values,
		"Chart":  chart,
		"Release": map[string]interface{}{
			"Name": *name, "Namespace": *namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": caps,
		"Files":        map[string]interface{}{},
	}

	out, err := render(*chartDir, chart["Name"].(string), top, *notes)
	if err != nil {
		fatal(err)
	}
	fmt.Print(out)
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "Error: %s\n", err)
	os.Exit(1)
}

// readChart loads Chart.yaml with Helm's field names (.Chart.Name, .Chart.AppVersion, ...).
func readChart(dir string) (map[string]interface{}, error) {
	raw, err := readYAMLMap(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	chart := map[string]interface{}{}
	for k, v := range raw {
		chart[strings.ToUpper(k[:1])+k[1:]] = v
	}
	if _, ok := chart["Name"].(string); !ok {
		return nil, errors.New("Chart.yaml: name is required")
	}
	return chart, nil
}

// readYAMLMap decodes YAML as Helm does: through JSON, so numbers arrive as float64.
func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

// coalesce merges override into base the way Helm merges user values into chart
// defaults: maps merge key by key, anything else replaces, and null removes the key.
func coalesce(base, override map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]interface{})
		om, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = coalesce(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

func defaultAPIVersions() APIVersions {
	return APIVersions{
		"v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1",
		"autoscaling/v2", "storage.k8s.io/v1", "apiextensions.k8s.io/v1",
	}
}

func render(chartDir, chartName string, top map[string]interface{}, notesOnly bool) (string, error) {
	tplDir := filepath.Join(chartDir, "templates")
	var files []string
	err := filepath.Walk(tplDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)

	t := template.New("gotpl")
	// Helm: missing keys render as zero values (then "<no value>" is blanked below).
	t.Option("missingkey=zero")
	t.Funcs(funcMap(t))
	names := []string{}
	for _, f := range files {
		rel, _ := filepath.Rel(chartDir, f)
		name := path.Join(chartName, filepath.ToSlash(rel))
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		if _, err := t.New(name).Parse(string(data)); err != nil {
			return "", err
		}
		names = append(names, name)
	}

	var out strings.Builder
	for _, name := range names {
		base := path.Base(name)
		isNotes := base == "NOTES.txt"
		if notesOnly != isNotes || strings.HasPrefix(base, "_") {
			continue
		}
		if !notesOnly && !strings.HasSuffix(base, ".yaml") && !strings.HasSuffix(base, ".yml") {
			continue
		}
		vals := map[string]interface{}{}
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{"Name": name, "BasePath": path.Join(chartName, "templates")}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, vals); err != nil {
			return "", cleanupError(err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if notesOnly {
			out.WriteString(text)
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		for _, doc := range splitDocuments(text) {
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, doc)
		}
	}
	return out.String(), nil
}

// splitDocuments splits one template's output on YAML document markers, dropping empty ones.
func splitDocuments(text string) []string {
	var docs []string
	for _, d := range strings.Split("\n"+text, "\n---") {
		if s := strings.TrimSpace(d); s != "" && !onlyComments(s) {
			docs = append(docs, strings.TrimRight(strings.TrimLeft(d, "\n"), "\n "))
		}
	}
	return docs
}

func onlyComments(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// Helm wraps the messages of fail and required in these markers so that, however deeply the
// call is nested in includes, the error shows the message alone.
const (
	warnStart = "HELM_ERR_START"
	warnEnd   = "HELM_ERR_END"
)

var warnRegex = regexp.MustCompile(warnStart + `((?s).*)` + warnEnd)

func warnWrap(msg string) string { return warnStart + msg + warnEnd }

// cleanupError turns text/template's "template: NAME:LINE:COL: executing ... error calling
// fail: MSG" into Helm's "execution error at (NAME:LINE:COL): MSG".
func cleanupError(err error) error {
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return err
	}
	if parts := warnRegex.FindStringSubmatch(tokens[2]); len(parts) == 2 {
		return fmt.Errorf("execution error at (%s): %s", tokens[1], parts[1])
	}
	return err
}

func funcMap(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	// Helm removes these: templates must not read the renderer's environment.
	delete(f, "env")
	delete(f, "expandenv")

	includedNames := map[string]int{}
	f["include"] = func(name string, data interface{}) (string, error) {
		// Helm bounds recursion the same way (a template including itself forever).
		if includedNames[name] > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		includedNames[name]++
		defer func() { includedNames[name]-- }()
		var buf bytes.Buffer
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		parsed, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := parsed.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["fail"] = func(msg string) (string, error) {
		return "", errors.New(warnWrap(msg))
	}
	f["required"] = func(msg string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(warnWrap(msg))
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(warnWrap(msg))
		}
		return val, nil
	}
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		// `helm template` has no cluster: lookup returns an empty object.
		return map[string]interface{}{}, nil
	}
	f["toYaml"] = func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["toJson"] = func(v interface{}) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	return f
}
