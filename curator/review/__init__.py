"""The curation loop after an audit: tasks sent to people, their answers kept as versioned
corrections beside the data, and the corrections applied by the next audit.

``corrections`` is the table (schema, validation, merging, applying it to the manifest);
``file_tool`` is the round trip through a CSV a reviewer edits, for teams without a server.
"""
