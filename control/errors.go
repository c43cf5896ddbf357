package control

import (
	"errors"
	"strconv"
	"strings"
)

// Names renders a field path of the config file ("underlay.local",
// "networks[0].remotes[1]") in the words of the front end a user typed
// into: the path itself for the config file, the flag for the command
// line (--local), the field of the request for the API.
type Names func(path string) string

// ConfigNames speaks of fields as the config file writes them.
func ConfigNames(path string) string { return path }

// FieldError is a value a user gave that vtepd cannot use: a config
// field, a flag or a field of an API request, and what was wanted of it.
// It is built where the problem is found, with the field's path in the
// config file, and printed by the front end in its own words (In); no
// code reads its text back.
type FieldError struct {
	// Path is the field as the config file names it.
	Path string
	// Want is what the field takes, like "an IP address"; Got is what it
	// was given, as the message shows it ("\"peer\"", "0"), or empty.
	Want, Got string
	// Msg, when set, is the whole message instead of want/got. Other
	// fields it names are refs, each written where ref(i) stands.
	Msg  string
	Refs []string
	// Err is the cause when the host refused the value (an address it
	// does not have, a device name in use).
	Err error

	names Names
}

// refMark stands for Refs[i] in Msg. A NUL never comes from a user: values
// are quoted (%q) or printed as addresses and numbers.
func refMark(i int) string { return "\x00" + strconv.Itoa(i) + "\x00" }

// Wanted is the error of a field given got where it takes want.
func Wanted(path, want, got string) *FieldError {
	return &FieldError{Path: path, Want: want, Got: got}
}

// Refused is the error of a field whose value the host would not take.
func Refused(path string, err error) *FieldError {
	return &FieldError{Path: path, Err: err}
}

func (e *FieldError) Error() string { return e.In(e.names) }
func (e *FieldError) Unwrap() error { return e.Err }

// In is the error in the words of names; nil names are the config file's.
func (e *FieldError) In(names Names) string {
	if names == nil {
		names = ConfigNames
	}
	var msg string
	switch {
	case e.Msg != "":
		msg = e.Msg
		for i, r := range e.Refs {
			msg = strings.ReplaceAll(msg, refMark(i), names(r))
		}
	case e.Want != "":
		msg = "want " + e.Want
		if e.Got != "" {
			msg += ", got " + e.Got
		}
	case e.Err != nil:
		msg = e.Err.Error()
	}
	if msg == "" {
		return names(e.Path)
	}
	return names(e.Path) + ": " + msg
}

// Within is e for a front end that names fields with names: the same
// error, printed in its words. e itself is unchanged.
func (e *FieldError) Within(names Names) *FieldError {
	c := *e
	c.names = names
	return &c
}

// Rename is err printed with names when it is a FieldError; any other
// error is returned as it is.
func Rename(err error, names Names) error {
	var fe *FieldError
	if errors.As(err, &fe) && fe == err {
		return fe.Within(names)
	}
	return err
}
