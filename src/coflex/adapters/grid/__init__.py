"""Grid-side protocol adapters: coflex as a VEN of a utility's OpenADR VTN."""
