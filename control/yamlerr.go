package control

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yaml.v3 reports decode problems by line and Go type, several to an error.
// These patterns pick its messages apart so the user sees the first problem on
// one line, by field path.
var (
	// A key is written into the message as it is: it may be empty or span
	// lines.
	reUnknownField = regexp.MustCompile(`(?s)^line (\d+): field (.*) not found in type `)
	reWrongType    = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
	// Here the key is quoted, in Go syntax.
	reDuplicateKey = regexp.MustCompile(`^line (\d+): mapping key (".*") already defined at line (\d+)$`)
)

// yamlError turns a yaml.v3 error into one line naming the field path.
func yamlError(data []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return fmt.Errorf("config: %s", oneLine(strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc) // for paths only; it decoded once already
	msg := te.Errors[0]

	if m := reUnknownField.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if p, ok := findKey(&doc, line, m[2]); ok {
			return fmt.Errorf("%s: unknown field (line %d)", p, line)
		}
		return fmt.Errorf("%s: unknown field (line %d)", fieldName(m[2]), line)
	}
	if m := reDuplicateKey.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		key, err := strconv.Unquote(m[2])
		if err != nil {
			key = m[2]
		}
		if p, ok := findKey(&doc, line, key); ok {
			return fmt.Errorf("%s: given twice (line %s and line %d)", p, m[3], line)
		}
		return fmt.Errorf("%s: given twice (line %s and line %d)", fieldName(key), m[3], line)
	}
	if m := reWrongType.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		want := "a mapping"
		if strings.HasPrefix(m[4], "[]") {
			want = "a list"
		}
		var got string
		switch m[2] {
		case "!!map":
			got = "a mapping"
		case "!!seq":
			got = "a list"
		case "!!str", "!!binary":
			got = strconv.Quote(m[3])
		default:
			got = m[3]
		}
		p, ok := findValue(&doc, line, m[2])
		if !ok {
			p = "config"
		}
		return fmt.Errorf("%s: want %s, got %s (line %d)", p, want, got, line)
	}
	return fmt.Errorf("config: %s", oneLine(msg))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// walk visits every value in the document with its field path and, for
// mapping values, its key. A key that does not read as a field name is
// quoted in the path (fieldName).
func walk(n *yaml.Node, path string, visit func(path string, key, val *yaml.Node) bool) bool {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if !visit("config", nil, c) || !walk(c, "", visit) {
				return false
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := fieldName(keyValue(k))
			if path != "" {
				p = path + "." + p
			}
			if !visit(p, k, v) || !walk(v, p, visit) {
				return false
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if !visit(p, nil, c) || !walk(c, p, visit) {
				return false
			}
		}
	}
	return true
}

// keyValue is the text of a mapping key, the anchored one for an alias
// (`*k: 1`), as the decoder saw it.
func keyValue(k *yaml.Node) string {
	for k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	return k.Value
}

// findKey finds the path of the mapping key name written on line.
func findKey(doc *yaml.Node, line int, name string) (string, bool) {
	var found string
	walk(doc, "", func(p string, k, _ *yaml.Node) bool {
		if k != nil && k.Line == line && keyValue(k) == name {
			found = p
			return false
		}
		return true
	})
	return found, found != ""
}

// findValue finds the path of the value with the given tag written on line.
func findValue(doc *yaml.Node, line int, tag string) (string, bool) {
	var found string
	walk(doc, "", func(p string, _, v *yaml.Node) bool {
		if v.Line == line && v.ShortTag() == tag {
			found = p
			return false
		}
		return true
	})
	return found, found != ""
}
