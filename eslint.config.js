import neostandard from 'neostandard'
import globals from 'globals'

export default [
  ...neostandard({
    ts: true,
    ignores: ['node_modules/**', '.cache/**', 'data/**', 'schemas/types.ts', 'web/vendor/**']
  }),
  {
    // the map page: plain ES modules that run in the browser
    files: ['web/**/*.js'],
    languageOptions: { globals: { ...globals.browser } }
  },
  {
    rules: {
      // `void promise` marks a deliberately unawaited promise
      'no-void': 'off',
      // loops that wait on counters changed by callbacks are flagged wrongly
      'no-unmodified-loop-condition': 'off'
    }
  }
]
