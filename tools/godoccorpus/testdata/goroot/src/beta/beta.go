// Package beta has grouped declarations.
package beta

// Errors returned by the beta package.
var (
	ErrFirst  = errorString("first")
	ErrSecond = errorString("second")
)

type (
	// Point is a point in the plane.
	Point struct{ X, Y int }

	// Size is the extent of a rectangle.
	Size struct{ W, H int }
)

type errorString string

// Error implements the error interface.
func (e errorString) Error() string { return string(e) }

// Add returns p+q.
func (p Point) Add(q Point) Point { return Point{p.X + q.X, p.Y + q.Y} }

// Area returns the area of s.
func (s Size) Area() int { return s.W * s.H }
