"""The OpenADR 3.1 VTN: coflex serves programs and events to customers' VENs."""
