// Copyright 2025 The Termflow Authors. This comment is not package doc.

// Package alpha is a tiny fake standard library package. It exists only
// for the godoccorpus tests.
package alpha

import "strings"

// Mode values select how a Widget renders. See [Widget.Render].
const (
	ModePlain Mode = iota // plain text
	ModeFancy             // with decorations
	modeHidden
)

// MaxWidgets is the largest number of widgets. It is not enforced.
const MaxWidgets = 10

// Default is the default widget.
var Default = NewWidget("default")

var hidden = 1

// Mode selects a rendering mode.
type Mode int

// Widget is a thing that renders. The zero value is not useful.
type Widget struct {
	// Name is shown by Render.
	Name   string
	secret int
}

// NewWidget returns a new Widget with the given name.
func NewWidget(name string) *Widget {
	return &Widget{Name: name, secret: hidden}
}

// Render renders w in the given mode. Rendering is cheap.
func (w *Widget) Render(m Mode) string {
	if m == ModeFancy {
		return "*" + strings.ToUpper(w.Name) + "*"
	}
	return w.Name
}

func (w *Widget) reset() { w.secret = 0 }

// Join concatenates the names of ws, separated by sep. e.g. it returns
// "a,b" for two widgets.
func Join(sep string, ws ...*Widget) string {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.Name
	}
	return strings.Join(names, sep)
}

func helper() {}
