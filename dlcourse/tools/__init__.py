"""The course's tools: what runs outside a notebook kernel.

The `dlcourse` command (:mod:`~dlcourse.tools.runner`), the one place a kernel is started
(:mod:`~dlcourse.tools.kernel`), the notebook lint (:mod:`~dlcourse.tools.lint`), the student release
(:mod:`~dlcourse.tools.release`) and the checked map from notebooks to the package's modules
(:mod:`~dlcourse.tools.codemap`). Tools import the top level of :mod:`dlcourse`; the top level never
imports a tool.
"""
