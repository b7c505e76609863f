package main

import (
	"math"
	"strconv"
	"strings"
)

// unit is a unit of measurement: value in the dimension's base unit =
// (value + offset) * factor. Only temperatures have an offset.
type unit struct {
	symbol string
	dim    string
	factor float64
	offset float64
	names  []string // accepted spellings besides the symbol (lower case)
}

// units lists the supported units; the base units are m, kg, l, s and K.
func units() []unit {
	return []unit{
		{"m", "length", 1, 0, []string{"meter", "meters", "metre", "metres"}},
		{"km", "length", 1000, 0, []string{"kilometer", "kilometers", "kilometre", "kilometres"}},
		{"cm", "length", 0.01, 0, []string{"centimeter", "centimeters", "centimetre", "centimetres"}},
		{"mm", "length", 0.001, 0, []string{"millimeter", "millimeters", "millimetre", "millimetres"}},
		{"mi", "length", 1609.344, 0, []string{"mile", "miles"}},
		{"yd", "length", 0.9144, 0, []string{"yard", "yards"}},
		{"ft", "length", 0.3048, 0, []string{"foot", "feet"}},
		{"in", "length", 0.0254, 0, []string{"inch", "inches"}},
		{"nmi", "length", 1852, 0, []string{"nautical mile", "nautical miles"}},

		{"kg", "mass", 1, 0, []string{"kilogram", "kilograms"}},
		{"g", "mass", 0.001, 0, []string{"gram", "grams"}},
		{"mg", "mass", 1e-6, 0, []string{"milligram", "milligrams"}},
		{"t", "mass", 1000, 0, []string{"tonne", "tonnes", "metric ton"}},
		{"lb", "mass", 0.45359237, 0, []string{"lbs", "pound", "pounds"}},
		{"oz", "mass", 0.028349523125, 0, []string{"ounce", "ounces"}},

		{"l", "volume", 1, 0, []string{"liter", "liters", "litre", "litres"}},
		{"ml", "volume", 0.001, 0, []string{"milliliter", "milliliters", "millilitre", "millilitres"}},
		{"m3", "volume", 1000, 0, []string{"m^3", "cubic meter", "cubic meters", "cubic metre", "cubic metres"}},
		{"gal", "volume", 3.785411784, 0, []string{"gallon", "gallons", "us gallon"}},
		{"floz", "volume", 0.0295735295625, 0, []string{"fl oz", "fluid ounce", "fluid ounces"}},

		{"s", "time", 1, 0, []string{"sec", "second", "seconds"}},
		{"ms", "time", 0.001, 0, []string{"millisecond", "milliseconds"}},
		{"min", "time", 60, 0, []string{"minute", "minutes"}},
		{"h", "time", 3600, 0, []string{"hr", "hour", "hours"}},
		{"d", "time", 86400, 0, []string{"day", "days"}},

		{"K", "temperature", 1, 0, []string{"kelvin"}},
		{"degC", "temperature", 1, 273.15, []string{"c", "°c", "celsius"}},
		{"degF", "temperature", 5.0 / 9.0, 459.67, []string{"f", "°f", "fahrenheit"}},
	}
}

// lookupUnit finds a unit by symbol or name, ignoring case and surrounding
// space.
func lookupUnit(s string) (unit, bool) {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	for _, u := range units() {
		if strings.ToLower(u.symbol) == s {
			return u, true
		}
		for _, n := range u.names {
			if n == s {
				return u, true
			}
		}
	}
	return unit{}, false
}

// unitSymbols lists the supported symbols by dimension, for error messages.
func unitSymbols() string {
	var b strings.Builder
	dim := ""
	for _, u := range units() {
		if u.dim != dim {
			if dim != "" {
				b.WriteString("; ")
			}
			dim = u.dim
			b.WriteString(dim + ": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(u.symbol)
	}
	return b.String()
}

// convert converts v from one unit to another of the same dimension.
func convert(v float64, from, to unit) float64 {
	base := (v + from.offset) * from.factor
	return base/to.factor - to.offset
}

// roundSig rounds x to 12 significant digits, dropping floating-point noise
// such as 0.30000000000000004.
func roundSig(x float64) float64 {
	if x == 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 12, 64), 64)
	return r
}

func formatNumber(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
