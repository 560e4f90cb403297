"""Sources only find and fetch files; they never read their content.

`folder` is the drop folder of docs/inputs.md. Other sources (an HTTP export API, SFTP)
deliver the same files into the same structure and go through the same loader.
"""
from lapor.sources.folder import SourceFile, list_agency_files

__all__ = ["SourceFile", "list_agency_files"]
