"""What reviewers read: the HTML dataset audit and Model Card, the card as JSON, the figures and
the terminal summary."""
