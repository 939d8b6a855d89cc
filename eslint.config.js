import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['node_modules/**', '.cache/**', 'data/**', 'schemas/types.ts', 'web/vendor/**']
  }),
  {
    rules: {
      // `void promise` marks a deliberately unawaited promise
      'no-void': 'off',
      // loops that wait on counters changed by callbacks are flagged wrongly
      'no-unmodified-loop-condition': 'off'
    }
  }
]
