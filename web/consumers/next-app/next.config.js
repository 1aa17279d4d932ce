/** A scratch consumer: nothing configured, the package must work as it is. */
export default {};
