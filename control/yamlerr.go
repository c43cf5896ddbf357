package control

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// checkShape walks a parsed YAML document against the raw types it is to
// be decoded into (rawConfig) and returns the first problem the decoder
// would meet, as a FieldError naming its path and line: a key given twice
// in one mapping, a key the type has no field for, or a mapping or list
// where the other (or a scalar) was wanted. yaml.v3 reports these only as
// text; reading the document ourselves, in the order the decoder does,
// names them without parsing its messages. Scalars are the raw types'
// yaml.Node leaves and are checked later, field by field (value).
func checkShape(doc *yaml.Node, t reflect.Type) error {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	return shape(doc.Content[0], t, "")
}

var nodeType = reflect.TypeOf(yaml.Node{})

// shape checks n, at path ("" for the document), against t.
func shape(n *yaml.Node, t reflect.Type, path string) error {
	n = resolve(n)
	if t == nodeType || isNull(n) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return wrongKind(n, path, "a mapping")
		}
		return mappingShape(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return wrongKind(n, path, "a list")
		}
		for i, c := range n.Content {
			if err := shape(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// mappingShape checks the keys of mapping n against the fields of struct
// t: a key given twice first, as the decoder does, then each key in turn.
// A merge key (<<) brings the keys of the mappings it names in.
func mappingShape(n *yaml.Node, t reflect.Type, path string) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		for j := i + 2; j+1 < len(n.Content); j += 2 {
			ki, kj := n.Content[i], n.Content[j]
			if ki.Kind == kj.Kind && ki.Value == kj.Value {
				return &FieldError{Path: join(path, fieldName(keyValue(kj))),
					Msg: fmt.Sprintf("given twice (line %d and line %d)", ki.Line, kj.Line)}
			}
		}
	}
	// The decoder sets the keys given first, then merges (the last merge
	// key only), keeping what was set; a null key it skips.
	var merge *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			merge = v
			continue
		}
		if isNull(resolve(k)) {
			continue
		}
		key := keyValue(k)
		f, ok := yamlField(t, key)
		if !ok {
			return &FieldError{Path: join(path, fieldName(key)), Msg: fmt.Sprintf("unknown field (line %d)", k.Line)}
		}
		if err := shape(v, f.Type, join(path, key)); err != nil {
			return err
		}
	}
	if merge != nil {
		return mergeShape(merge, t, path)
	}
	return nil
}

// isMergeKey is the merge key, <<, plain or tagged !!merge.
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

// mergeShape checks what a merge key names: a mapping, or a list of them.
func mergeShape(v *yaml.Node, t reflect.Type, path string) error {
	v = resolve(v)
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
	}
	for _, m := range items {
		m = resolve(m)
		if m.Kind != yaml.MappingNode {
			return wrongKind(m, join(path, `"<<"`), "a mapping to merge")
		}
		if err := mappingShape(m, t, path); err != nil {
			return err
		}
	}
	return nil
}

// yamlField is the field of struct t that key decodes into.
func yamlField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// wrongKind is the error of n, at path, where want was wanted.
func wrongKind(n *yaml.Node, path, want string) error {
	if path == "" {
		path = "config"
	}
	var got string
	switch n.Kind {
	case yaml.MappingNode:
		got = "a mapping"
	case yaml.SequenceNode:
		got = "a list"
	default:
		switch n.ShortTag() {
		case "!!str", "!!binary":
			got = strconv.Quote(n.Value)
		default:
			got = n.Value
		}
	}
	return &FieldError{Path: path, Msg: fmt.Sprintf("want %s, got %s (line %d)", want, got, n.Line)}
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// keyValue is the text of a mapping key, the anchored one for an alias
// (`*k: 1`), as the decoder saw it.
func keyValue(k *yaml.Node) string {
	return resolve(k).Value
}
