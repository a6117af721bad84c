"""`curator app`: the audit in the FiftyOne app."""
